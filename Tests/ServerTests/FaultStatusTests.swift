import Controller
import Foundation
import HTTP
import Testing

/// Status tells the truth during a fault, and recovers by itself.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct FaultStatusTests {
    @Test func withGitGoneTheControllerSaysDegradedKeepsServingAndRecovers() async throws {
        let project = try await ServerProject()
        let controller = try await LiveController(project)
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()
        #expect(try await controller.get("/readyz").status == 200)

        // The followed repository disappears (a Git server that is down).
        let hidden = project.bare + ".away"
        try FileManager.default.moveItem(atPath: project.bare, toPath: hidden)
        #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
        try await controller.waitUntil("the controller says it is degraded") { controller.loop.status.snapshot.health == "degraded" }
        let ready = try await controller.get("/readyz")
        #expect(ready.status == 503)
        #expect(ready.text.contains("degraded since "), "\(ready.text)")
        let status = try await controller.json("/api/v1/status") as! [String: Any]
        #expect(status["health"] as? String == "degraded")
        #expect(status["lastResult"] as? String == "error")
        #expect((status["lastError"] as? String)?.isEmpty == false)
        #expect(status["degradedSince"] is String)
        #expect(try await controller.get("/metrics").text.contains("gantry_controller_degraded 1"))
        let served = try await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:\(project.port)/"))
        #expect(served.status == 200, "what serves keeps serving")

        // Back: the next loop clears it all.
        try FileManager.default.moveItem(atPath: hidden, toPath: project.bare)
        #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
        try await controller.waitUntil("the controller recovered") { controller.loop.status.snapshot.health == "ok" }
        #expect(try await controller.get("/readyz").status == 200)
        #expect(try await controller.get("/metrics").text.contains("gantry_controller_degraded 0"))
        await controller.stop()
    }
}
