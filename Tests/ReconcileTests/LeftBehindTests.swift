import Foundation
import GantryTestSupport
import Processes
import Testing

@testable import Reconciler
@testable import StableAddress
@testable import State
@testable import Targets

/// Nothing outlives what recorded it: no reconcile stays `running` after
/// its process died, and no forwarder holds an address no record names.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct LeftBehindTests {
    @Test func aReconcileWhoseProcessWasKilledIsRecordedAsInterrupted() async throws {
        let project = try await TestProject(port: freePort())
        project.remove("manifests/deployment.yaml")
        try await project.commit("Train only")
        let h = try Harness(project)
        // One left by a killed process (pid 1 never has that start time),
        // one by this very process, still under way.
        var killed = ReconcileRecord(startedAt: Date(), source: "s", commit: "c1", author: "a", subject: "killed mid-apply")
        killed.owner = "1:1"
        killed = try h.store.begin(killed)
        var live = ReconcileRecord(startedAt: Date(), source: "s", commit: "c2", author: "a", subject: "under way")
        live.owner = Reconciler.me
        live = try h.store.begin(live)

        let (_, report) = try await h.apply()
        #expect(report.ok)
        let byID = Dictionary(uniqueKeysWithValues: try h.store.reconciles().map { ($0.id!, $0) })
        #expect(byID[killed.id!]?.result == "interrupted")
        #expect(byID[killed.id!]?.finishedAt != nil)
        #expect(byID[killed.id!]?.error.contains("its process ended before the reconcile finished") == true)
        #expect(byID[live.id!]?.result == "running", "a reconcile whose process lives is left alone")
        #expect(byID[report.reconcileID!]?.owner == Reconciler.me)
        await h.tearDown()
    }

    @Test func aFirstDeployWhoseServerExitsAtOnceLeavesTheAddressFree() async throws {
        let project = try await TestProject(port: freePort())
        project.write(
            "manifests/deployment.yaml",
            project.deployment(version: 1)
                .replacingOccurrences(
                    of: #"command: [python3, serve.py, --model, "${artifact}", --port, "${port}", --version, "${version}"]"#,
                    with: #"command: [python3, -c, "raise SystemExit('no GPU here')"]"#))
        try await project.commit("A server that cannot start")
        let h = try Harness(project)
        let (_, report) = try await h.apply()
        #expect(report.failed.map(\.action.kind) == [.deploy])
        #expect(try h.store.deployment("demo-prod") == nil)
        // Whoever binds the address next gets it: no forwarder kept it.
        let (fd, _) = try Sockets.listen(on: Endpoint(host: "127.0.0.1", port: UInt16(project.port)))
        close(fd)
        await h.tearDown()
    }

    @Test func aFirstDeployThatFailsBeforeItsServerStartsLeavesTheAddressFree() async throws {
        let project = try await TestProject(port: freePort())
        project.write(
            "manifests/deployment.yaml",
            project.deployment(version: 1)
                .replacingOccurrences(
                    of: "    workingDir: src\n", with: "    workingDir: src\n    env: { API_TOKEN: { secret: { env: GANTRY_TEST_NEVER_SET } } }\n"))
        try await project.commit("A secret nobody set")
        let h = try Harness(project)
        let (_, report) = try await h.apply()
        #expect(report.failed.first?.error.contains("environment variable GANTRY_TEST_NEVER_SET is not set") == true, "\(report.failed.map(\.error))")
        let (fd, _) = try Sockets.listen(on: Endpoint(host: "127.0.0.1", port: UInt16(project.port)))
        close(fd)
        await h.tearDown()
    }

    @Test func aForwarderLeftByADeployKilledBeforeItsRecordIsAdopted() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        // What a deploy killed between starting the forwarder and saving its
        // record leaves: a forwarder on the address that no record names.
        let local = LocalTarget(workspace: h.workspace)
        let control = ForwarderControl(directory: local.controlDirectory("demo-prod"))
        try FileManager.default.createDirectory(atPath: control.directory, withIntermediateDirectories: true)
        let orphan = try spawnDetached(
            ProcessSpec(
                argv: [h.workspace.executable, "forward", "--listen", "127.0.0.1:\(project.port)", "--control", control.directory],
                environment: ProcessInfo.processInfo.environment, workingDirectory: control.directory, logPath: control.directory + "/orphan.log"))
        try await eventually("the orphan forwarder listens", timeout: .seconds(30)) { control.status()?.pid == orphan.pid }

        let (_, report) = try await h.apply()
        #expect(report.ok, "\(report.failed.map(\.error))")
        #expect(try await h.get().contains(#""version": "1""#))
        let record = try #require(try h.store.deployment("demo-prod"))
        #expect(LocalServing.of(record)?.forwarder == orphan, "the forwarder holding the address was adopted")
        await h.tearDown()
        #expect(!orphan.isRunning, "and is stopped with the deployment")
    }
}
