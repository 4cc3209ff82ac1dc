import Foundation
import GantryTestSupport
import Processes
import Testing

@testable import Reconciler
@testable import State

@Suite(.serialized, .timeLimit(.minutes(3)))
struct ReproduceTests {
    @Test func anUnchangedVersionIsReproducedExactly() async throws {
        let remote = try await RemoteProject(policy: "manual")
        let h = try remote.harness()
        try await h.apply()
        let report = try await h.reconciler.reproduce(model: "demo", number: 1, source: h.source)
        #expect(report.dataProblems.isEmpty)
        #expect(report.artifactMatches)
        #expect(report.metrics == [.init(name: "accuracy", recorded: 0.9, reproduced: 0.9)])
        #expect(report.matches)
        #expect(try h.store.versions(of: "demo").count == 1, "reproducing registers nothing")
        #expect(try h.store.openIntents().isEmpty)

        let cli = try await gantry(["reproduce", "demo@1", "--repo", remote.url, "--state-dir", h.workspace.root], timeout: .seconds(60))
        #expect(cli.status == .exited(0), "\(cli.output)")
        #expect(cli.output.contains("reproduced exactly"))
        await h.tearDown()
        await remote.stop()
    }

    @Test func changedDataIsRestoredFromItsSnapshotOrNamedWhenNoneWasKept() async throws {
        let remote = try await RemoteProject(policy: "manual")
        let h = try remote.harness()
        try await h.apply()
        let recorded = try #require(try h.store.version("demo", 1)?.lineage)
        try "x,y\n3,4\n0,0\n".write(toFile: remote.data + "/b.csv", atomically: true, encoding: .utf8)
        let restored = try await h.reconciler.reproduce(model: "demo", number: 1, source: h.source)
        #expect(restored.dataProblems.isEmpty && restored.matches, "\(restored)")
        #expect(restored.restored.first?.hasPrefix("dataset rows changed since v1 (now sha256:") == true, "\(restored.restored)")
        #expect(try String(contentsOfFile: remote.data + "/b.csv", encoding: .utf8) == "x,y\n3,4\n0,0\n", "the live data is left alone")

        // Without the snapshot (a version from before snapshots, or one gc
        // removed), the change is named and nothing trains.
        try FileManager.default.removeItem(atPath: h.workspace.snapshots)
        let report = try await h.reconciler.reproduce(model: "demo", number: 1, source: h.source)
        #expect(report.dataProblems.count == 1)
        #expect(report.dataProblems.first?.hasPrefix("dataset rows changed: recorded sha256:") == true)
        #expect(report.dataProblems.first?.hasSuffix(", and no snapshot of it was kept") == true)
        #expect(recorded.contains(String(report.dataProblems.first?.split(separator: " ")[4].dropLast() ?? "?")))
        #expect(report.reproducedArtifact == nil, "no training with changed data")
        #expect(!report.matches)

        try FileManager.default.removeItem(atPath: remote.data)
        let missing = try await h.reconciler.reproduce(model: "demo", number: 1, source: h.source)
        #expect(
            missing.dataProblems.first == "dataset rows is missing (dataset rows: \(remote.data): no such file or directory), and no snapshot of it was kept",
            "\(missing.dataProblems)")
        await h.tearDown()
        await remote.stop()
    }
}

@Suite(.serialized, .timeLimit(.minutes(3)))
struct DataStatusTests {
    func dataStatus(_ h: Harness, _ remote: RemoteProject) async throws -> (Processes.ExitStatus, String) {
        let r = try await gantry(["data", "status", "--repo", remote.url, "--state-dir", h.workspace.root], timeout: .seconds(60))
        return (r.status, r.output)
    }

    @Test func dataStatusNamesTheDatasetThatChangedSinceTheLastVersion() async throws {
        let remote = try await RemoteProject(policy: "manual")
        let h = try remote.harness()
        try await h.apply()
        let (same, quiet) = try await dataStatus(h, remote)
        #expect(same == .exited(0))
        #expect(quiet == "rows: up to date\n")
        try "x,y\n3,4\n1,1\n".write(toFile: remote.data + "/b.csv", atomically: true, encoding: .utf8)
        let (changed, out) = try await dataStatus(h, remote)
        #expect(changed == .exited(2))
        #expect(out.hasPrefix("rows: changed since demo@v1 (sha256:"))
        await h.tearDown()
        await remote.stop()
    }
}
