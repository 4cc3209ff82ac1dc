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
        project.write(
            "manifests/model.yaml",
            try String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8)
                .replacingOccurrences(of: "quality: 0.8", with: "quality: 0.9"))
        try await project.push("Better quality")
        #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
        try await eventually("v2 is promoted") {
            inbox.received.contains { $0.contains(#""event":"promoted""#) }
        }
        let promoted = try #require(inbox.received.first { $0.contains(#""event":"promoted""#) })
        let body = try #require(try JSONSerialization.jsonObject(with: Data(promoted.utf8)) as? [String: Any])
        #expect(body["object"] as? String == "Model/demo")
        #expect((body["message"] as? String)?.hasPrefix("v2: committed ") == true, "\(body)")

        // A training that fails is a failed sync, said once per reconcile
        // that fails, with the error.
        project.write("src/train.py", "raise SystemExit('the GPU is on fire')\n")
        project.write(
            "manifests/model.yaml",
            try String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8)
                .replacingOccurrences(of: "quality: 0.9", with: "quality: 0.95"))
        try await project.push("Broken training")
        #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
        try await eventually("the failure is announced") {
            inbox.received.contains { $0.contains(#""event":"sync-failed""#) }
        }
        let failed = try #require(inbox.received.first { $0.contains(#""event":"sync-failed""#) })
        #expect(failed.contains("Model/demo") && failed.contains("the GPU is on fire"), "\(failed)")
        #expect(controller.loop.status.snapshot.lastResult == "failed")
        await controller.stop()
    }
}
