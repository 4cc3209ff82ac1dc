import Foundation
import GantryTestSupport
import Glibc
import Manifests
import Synchronization
import Testing

@testable import Lineage
@testable import Processes
@testable import State
@testable import Targets

/// Observing a serving Deployment trusts a healthy answer for the health
/// check's interval, and probes a failing one on every plan.
@Suite struct HealthVerdictTests {
    func record(_ name: String, port: Int, process: ProcessIdentity) -> DeploymentRecord {
        DeploymentRecord(
            name: name, model: "demo", version: 1, target: "local", address: "127.0.0.1:1", specDigest: "", commit: "",
            updatedAt: Date(), detail: LocalServing(backendPort: port, serve: process, forwarder: process).json)
    }

    func spec(interval: String) throws -> DeploymentSpec {
        let text = """
            apiVersion: gantry.dev/v1alpha1
            kind: Deployment
            metadata: { name: demo-prod }
            spec:
              model: demo
              version: 1
              address: 127.0.0.1:1
              serve: { command: [python3, serve.py] }
              targets: [{ target: local }]
              healthCheck: { path: /health, interval: \(interval) }
            """
        let set = ManifestSet.assemble([ManifestDecoder.decode(path: "d.yaml", bytes: Array(text.utf8))])
        return try #require(set.set.deployments["demo-prod"]).spec
    }

    @Test func aHealthyAnswerIsTrustedForTheIntervalAndAFailingOneIsProbedEachTime() async throws {
        let status = Atomic<Int>(200)
        let server = try FaultServer { _ in .status(status.load(ordering: .relaxed), "status") }
        defer { server.stop() }
        let state = makeTemporaryDirectory("health-verdicts")
        let driver = LocalTarget(workspace: Workspace(root: state, executable: gantryExecutable))
        let me = try #require(ProcessIdentity.of(pid: getpid()))
        // Unique per run: verdicts are kept process-wide.
        let name = "verdicts-\(UUID().uuidString.prefix(8))"
        let deployment = record(name, port: server.port, process: me)
        let long = try spec(interval: "1h")

        var seen = await driver.observe(deployment, spec: long)
        #expect(seen.serving && seen.healthy == true, "\(seen.detail)")
        #expect(server.requests.count == 1)
        // Within the interval the answer stands, even if the server would
        // now say otherwise.
        status.store(503, ordering: .relaxed)
        seen = await driver.observe(deployment, spec: long)
        #expect(seen.healthy == true)
        #expect(server.requests.count == 1)

        // With a short interval the server is asked again; a failing answer
        // is not kept, so the next plan asks once more and sees recovery.
        let short = try spec(interval: "10ms")
        try await Task.sleep(for: .milliseconds(20))  // a verdict's age is what expires it: no event but the clock
        seen = await driver.observe(deployment, spec: short)
        #expect(seen.healthy == false)
        status.store(200, ordering: .relaxed)
        seen = await driver.observe(deployment, spec: long)
        #expect(seen.healthy == true)
        #expect(server.requests.count == 3)

        // A new backend (a rollout) is probed afresh.
        let next = try FaultServer { _ in .status(200, "next") }
        defer { next.stop() }
        _ = await driver.observe(record(name, port: next.port, process: me), spec: long)
        #expect(next.requests.count == 1, "a new backend has no verdict yet")
        #expect(server.requests.count == 3)
    }
}
