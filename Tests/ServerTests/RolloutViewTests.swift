import Foundation
import GantryTestSupport
import StableAddress
import Testing

@testable import Reconciler

/// What the API and the dashboard show of a Deployment on several targets.
@Suite struct RolloutViewTests {
    /// Declares `node1`, an agent target the fake driver stands for.
    func addNode(_ project: ServerProject) {
        project.write(
            "manifests/node.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: node1 }
            spec: { type: agent, endpoint: "http://127.0.0.1:9" }
            """)
    }

    @Test func eachTargetIsShownWithItsVersionAddressAndHealthAndSyncedMeansEveryTarget() async throws {
        let project = try await ServerProject()
        let node = freePort()
        addNode(project)
        project.write(
            "manifests/deployment.yaml",
            project.deploymentManifest(version: 1).replacingOccurrences(
                of: "targets: [{ target: local }]",
                with: "targets: [{ target: local }, { target: node1, address: \"127.0.0.1:\(node)\" }]"))
        try await project.push("Serve on local and node1")
        let fake = FakeDriver()
        let controller = try await LiveController(project, drivers: fake.factory)
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()

        let deployments = try #require(try await controller.json("/api/v1/deployments") as? [[String: Any]])
        let prod = try #require(deployments.first { $0["name"] as? String == "demo-prod" })
        #expect((prod["sync"] as? [String: Any])?["status"] as? String == "Synced")
        #expect((prod["health"] as? [String: Any])?["status"] as? String == "Healthy")
        #expect(prod["servedVersion"] as? Int == 1)
        let targets = try #require(prod["targets"] as? [[String: Any]])
        #expect(targets.map { $0["target"] as? String } == ["local", "node1"])
        #expect(targets.map { $0["servedVersion"] as? Int } == [1, 1])
        #expect(targets.map { $0["address"] as? String } == ["127.0.0.1:\(project.port)", "127.0.0.1:\(node)"])

        // Targets down while suspended (so nothing repairs them): the
        // Deployment's health is the worst target's, named.
        let suspend = try await controller.send(
            "POST", "/api/v1/deployments/demo-prod/suspend", token: Tokens.operator, body: #"{"reason": "look"}"#)
        #expect(suspend.status == 200, "\(suspend.text)")
        fake.lose("demo-prod")
        #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
        try await eventually("the loss is observed") {
            let all = try await controller.json("/api/v1/deployments") as? [[String: Any]]
            let health = all?.first { $0["name"] as? String == "demo-prod" }?["health"] as? [String: Any]
            return health?["status"] as? String == "Missing" && (health?["detail"] as? String)?.hasPrefix("local: ") == true
        }

        let page = try await controller.get("/", token: Tokens.viewer).text
        #expect(page.contains("local v1<br>node1 v1"), "each target's version on the dashboard")
        #expect(page.contains("<code>127.0.0.1:\(project.port)</code><br><code>127.0.0.1:\(node)</code>"))
    }

    /// A wave that fails is said once, however many reconciles follow while
    /// the version is held; a target put back later is announced as a
    /// rollback.
    @Test func aFailedWaveIsAnnouncedOnceAndARepairWhileHeldAsARollback() async throws {
        let inbox = NotificationInbox()
        try await inbox.start()
        defer { inbox.stop() }
        let project = try await ServerProject()
        let node = freePort()
        addNode(project)
        func deployment(_ version: Int) -> String {
            project.deploymentManifest(version: version).replacingOccurrences(
                of: "targets: [{ target: local }]",
                with: """
                    targets: [{ target: local }, { target: node1, address: "127.0.0.1:\(node)" }]
                      strategy: { type: waves, waves: [[local], [node1]] }
                      autoRollback: true
                    """)
        }
        project.write("manifests/deployment.yaml", deployment(1))
        try await project.push("Serve on local, then node1")
        let fake = FakeDriver()
        let controller = try await LiveController(
            project, notify: [.init(url: "http://127.0.0.1:\(inbox.port)/hook", format: .generic)], drivers: fake.factory)
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()

        // v2 trains, moves local, and is not healthy on node1.
        fake.unhealthy(on: "node1", version: 2)
        try project.setQuality(from: "0.8", to: "0.9")
        project.write("manifests/deployment.yaml", deployment(2))
        try await project.push("Train and pin v2")
        for _ in 0..<3 {
            let before = controller.loop.status.snapshot.loops
            #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
            try await eventually("the reconcile ran") { controller.loop.status.snapshot.loops > before }
        }
        #expect(controller.loop.status.snapshot.plan?.warnings.contains { $0.contains("demo@2 failed its rollout") } == true)
        let failures = inbox.received.filter { $0.contains(#""event":"sync-failed""#) }
        #expect(failures.count == 1, "\(failures)")
        #expect(failures.first?.contains("rolled back local to v1") == true, "\(failures)")
        #expect(fake.serving("demo-prod", on: "local") == 1 && fake.serving("demo-prod", on: "node1") == 1)

        // local's v1 server dies while v2 is held: put back, and said so.
        fake.lose("demo-prod")
        #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
        try await eventually("the rollback is announced") { inbox.received.contains { $0.contains(#""event":"rolled-back""#) } }
        let back = try #require(inbox.received.first { $0.contains(#""event":"rolled-back""#) })
        #expect(back.contains("local, node1 serve demo@v1 again"), "\(back)")
        #expect(inbox.received.filter { $0.contains(#""event":"sync-failed""#) }.count == 1)
    }

    @Test func aCanaryUnderWayIsInTheAPIAndOnTheDashboard() async throws {
        let controller = try await LiveController(try await ServerProject())
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()
        #expect(try await controller.json("/api/v1/rollouts") as? [Any] != nil)
        controller.reconciler.canaries.update(
            CanaryProgress.Step(
                deployment: "demo-prod", target: "local", version: 2, fromVersion: 1, step: 2, steps: 3, percent: 50,
                readings: BackendStats(requests: 200, failures: 2), since: Date()))
        let rollouts = try #require(try await controller.json("/api/v1/rollouts") as? [[String: Any]])
        #expect(rollouts.count == 1)
        #expect(rollouts.first?["percent"] as? Int == 50 && rollouts.first?["step"] as? Int == 2, "\(rollouts)")
        let page = try await controller.get("/", token: Tokens.viewer).text
        #expect(page.contains("Canaries under way") && page.contains("2 of 3 (v1 → v2)") && page.contains("1.0%"), "\(page.prefix(2000))")
        controller.reconciler.canaries.end("demo-prod")
        #expect((try await controller.json("/api/v1/rollouts") as? [Any])?.isEmpty == true)
        await controller.stop()
    }
}
