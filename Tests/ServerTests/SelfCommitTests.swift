import Foundation
import GantryTestSupport
import Testing

/// A pin the controller commits itself is acted on at once: with an hour's
/// interval, a promoted version is served without another push or refresh.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SelfCommitTests {
    @Test func aPromotionTheControllerCommittedIsDeployedWithoutWaitingForTheInterval() async throws {
        let project = try await ServerProject()
        try project.promoteAutomatically()
        try await project.push("Promote automatically")
        let controller = try await LiveController(project, interval: .seconds(3600))
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()
        #expect(try controller.store.deployments().first?.version == 1)

        // New params: one refresh trains v2 and commits its pin; nothing
        // else wakes the controller, yet v2 is served.
        try project.setQuality(from: "0.8", to: "0.9")
        try await project.push("Better quality")
        #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
        try await eventually("v2 is served", timeout: .seconds(120)) {
            (try? controller.store.deployments().first?.version) == 2
        }
        #expect(controller.loop.status.snapshot.lastWakeup?.reason.hasPrefix("a commit this controller wrote to ") == true)
        await controller.stop()
    }
}
