import Foundation
import GantryTestSupport
import Testing

@testable import Reconciler
@testable import State
@testable import Targets

/// What a manifest or a step could make Gantry itself read: files that
/// never end, block their reader, or lie outside the run.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct HostileRuntimeTests {
    @Test func aDatasetThatIsADeviceOrAFIFOIsAProblemNotAHang() async throws {
        let fifo = makeTemporaryDirectory("fifo") + "/rows"
        #expect(mkfifo(fifo, 0o600) == 0)
        for path in ["/dev/zero", "/dev/urandom", fifo] {
            let project = try await TestProject(port: freePort())
            project.writeRowsDataset(path: path)
            try await project.commit("Data from \(path)")
            let plan = try await Harness(project).plan()
            #expect(plan.actions.allSatisfy { $0.kind != .train })
            #expect(
                plan.warnings.contains(
                    "Model/demo: cannot compute lineage: dataset rows: \(path) is not a regular file (a device, FIFO or socket is not data)"),
                "\(plan.warnings)")
        }
    }

    @Test func anArtifactLinkedOutOfItsStepsOutputsIsNotRegistered() async throws {
        let project = try await TestProject(port: freePort())
        project.remove("manifests/deployment.yaml")
        project.write(
            "src/train.py", TestProject.train + "\nos.remove(os.path.join(out, 'model.json'))\nos.symlink('/etc/hostname', os.path.join(out, 'model.json'))\n")
        try await project.commit("A model that is the host's file")
        let h = try Harness(project)
        let (_, report) = try await h.apply()
        #expect(
            report.failed.first?.error == "the artifact train/model.json leads out of the step's outputs (to /etc/hostname); it is not read",
            "\(report.failed.map(\.error))")
        #expect(try h.store.versions(of: "demo").isEmpty)
    }

    @Test func sixUnresponsiveDataURLsAreWaitedForTogetherAndEachIsNamed() async throws {
        let server = try FaultServer { _ in .hang(.seconds(60)) }
        let names = ["rows"] + (1...5).map { "slow\($0)" }
        let project = try await TestProject(port: freePort())
        project.write(
            "manifests/data.yaml",
            names.map { name in
                "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata: { name: \(name) }\nspec:\n  source: { url: \"\(server.endpoint)/\(name).csv\" }\n"
            }.joined(separator: "---\n"))
        project.write(
            "manifests/model.yaml",
            TestProject.model("demo", quality: 0.9).replacingOccurrences(
                of: "datasets: [rows]", with: "datasets: [\(names.joined(separator: ", "))]"))
        try await project.commit("Data from a server that never answers")
        let started = ContinuousClock.now
        let plan = try await Harness(project).plan()
        let warning = try #require(plan.warnings.first { $0.hasPrefix("Model/demo: cannot compute lineage: ") }, "\(plan.warnings)")
        for name in names { #expect(warning.contains("dataset \(name): "), "\(name) is named: \(warning)") }
        // Reported, not asserted: side by side they cost one HEAD timeout (10 s), not six.
        print("six unresponsive data URLs planned in \(ContinuousClock.now - started)")
    }
}
