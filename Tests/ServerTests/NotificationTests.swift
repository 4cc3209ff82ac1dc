import Controller
import Foundation
import GantryTestSupport
import Testing

@Suite(.serialized, .timeLimit(.minutes(5)))
struct NotificationTests {
    @Test func aPromotionAndAFailedSyncAreAnnouncedAndAReceiverThatIsDownHoldsNothingUp() async throws {
        let inbox = NotificationInbox()
        try await inbox.start()
        defer { inbox.stop() }
        let project = try await ServerProject()
        try project.promoteAutomatically()
        try await project.push("Promote automatically")
        let nobody = freePort()  // nothing listens there
        let controller = try await LiveController(
            project,
            notify: [
                .init(url: "http://127.0.0.1:\(nobody)/hook", format: .generic),
                .init(url: "http://127.0.0.1:\(inbox.port)/hook", format: .generic),
            ])
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()

        // New params: v2 trains, passes its gate, and its pin is committed.
        try project.setQuality(from: "0.8", to: "0.9")
        try await project.push("Better quality")
        #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
        try await eventually("v2 is promoted") {
            inbox.received.contains { $0.contains(#""event":"promoted""#) }
        }
        let promoted = try #require(inbox.received.first { $0.contains(#""event":"promoted""#) })
        let body = try #require(try JSONSerialization.jsonObject(with: Data(promoted.utf8)) as? [String: Any])
        #expect(body["object"] as? String == "Model/demo")
        #expect((body["message"] as? String)?.hasPrefix("v2: committed ") == true, "\(body)")

        // A training that fails is a failed sync, said once per failure
        // streak, with the error, and its end is said too.
        let training = try String(contentsOfFile: project.directory + "/src/train.py", encoding: .utf8)
        project.write("src/train.py", "raise SystemExit('the GPU is on fire')\n")
        try project.setQuality(from: "0.9", to: "0.95")
        try await project.push("Broken training")
        #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
        try await eventually("the failure is announced") {
            inbox.received.contains { $0.contains(#""event":"sync-failed""#) }
        }
        let failed = try #require(inbox.received.first { $0.contains(#""event":"sync-failed""#) })
        #expect(failed.contains("Model/demo") && failed.contains("the GPU is on fire"), "\(failed)")
        #expect(controller.loop.status.snapshot.lastResult == "failed")
        func reconcileAgain() async throws {
            let loops = controller.loop.status.snapshot.loops
            #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
            try await eventually("another reconcile") { controller.loop.status.snapshot.loops > loops }
        }
        try await reconcileAgain()
        try await reconcileAgain()
        #expect(controller.loop.status.snapshot.lastResult == "failed", "it fails on every reconcile")
        #expect(inbox.received.filter { $0.contains(#""event":"sync-failed""#) }.count == 1, "said once: \(inbox.received)")

        project.write("src/train.py", training)
        try await project.push("Mend the training")
        try await reconcileAgain()
        try await eventually("the recovery is announced") {
            inbox.received.contains { $0.contains(#""event":"recovered""#) }
        }
        let recovered = try #require(inbox.received.first { $0.contains(#""event":"recovered""#) })
        #expect(recovered.contains(#""object":"Model\/demo""#) || recovered.contains(#""object":"Model/demo""#), "\(recovered)")
        #expect(recovered.contains("the GPU is on fire"), "it names what it recovered from: \(recovered)")

        // A version that trains but fails its gates is said, once.
        try project.setQuality(from: "0.95", to: "0.3")
        try await project.push("A worse model")
        try await reconcileAgain()
        try await eventually("the blocked version is announced") {
            inbox.received.contains { $0.contains(#""event":"gate-blocked""#) }
        }
        let blocked = try #require(inbox.received.first { $0.contains(#""event":"gate-blocked""#) })
        #expect(blocked.contains("is not promoted: ") && blocked.contains("accuracy"), "\(blocked)")
        #expect(inbox.received.filter { $0.contains(#""event":"sync-failed""#) }.count == 1, "\(inbox.received)")
        await controller.stop()
    }

    /// A rollout that fails and is held (manual promotion: Git still pins
    /// the failed version) is announced once, and the quiet reconciles
    /// after it are no recovery.
    @Test func aHeldRolloutIsAnnouncedOnceAndIsNoRecovery() async throws {
        let inbox = NotificationInbox()
        try await inbox.start()
        defer { inbox.stop() }
        let project = try await ServerProject()
        func deployment(version: Int) -> String {
            project.deploymentManifest(version: version).replacingOccurrences(of: "  targets:", with: "  autoRollback: true\n  targets:")
        }
        project.write("manifests/deployment.yaml", deployment(version: 1))
        try await project.push("Roll back by itself")
        let controller = try await LiveController(project, notify: [.init(url: "http://127.0.0.1:\(inbox.port)/hook", format: .generic)])
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()

        // v2 trains, but its server does not start.
        try project.setQuality(from: "0.8", to: "0.9")
        project.write(
            "manifests/deployment.yaml",
            deployment(version: 2).replacingOccurrences(of: "serve.py", with: "no_such_server.py"))
        try await project.push("Pin v2 with a server that does not start")
        func reconcileAgain() async throws {
            let loops = controller.loop.status.snapshot.loops
            #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
            try await eventually("another reconcile") { controller.loop.status.snapshot.loops > loops }
        }
        try await reconcileAgain()
        try await eventually("the failure is announced") { inbox.received.contains { $0.contains(#""event":"sync-failed""#) } }
        try await reconcileAgain()
        try await reconcileAgain()
        #expect(try controller.store.hold("demo-prod")?.version == 2)
        #expect(inbox.received.filter { $0.contains(#""event":"sync-failed""#) }.count == 1, "\(inbox.received)")
        #expect(!inbox.received.contains { $0.contains(#""event":"recovered""#) }, "held is not recovered: \(inbox.received)")
        await controller.stop()
    }
}
