import Foundation
import GantryTestSupport
import Testing

/// What the API and the dashboard show of a Deployment on several targets.
@Suite struct RolloutViewTests {
    @Test func eachTargetIsShownWithItsVersionAddressAndHealthAndSyncedMeansEveryTarget() async throws {
        let project = try await ServerProject()
        let node = freePort()
        project.write(
            "manifests/node.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: node1 }
            spec: { type: agent, endpoint: "http://127.0.0.1:9" }
            """)
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
}
