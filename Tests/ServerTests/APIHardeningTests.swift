import Controller
import Foundation
import HTTP
import Listener
import Server
import Testing

/// What an attacker on the network tries against a running controller.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct APIHardeningTests {
    @Test func theSignInCookieOpensPagesButNotTheAPI() async throws {
        let project = try await ServerProject(deployment: false)
        let controller = try await LiveController(project)
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()
        let cookie = [("Cookie", "gantry_token=\(Tokens.admin)")]
        #expect(try await controller.send("GET", "/", headers: cookie).status == 200, "the dashboard reads with the cookie")
        for path in ["/api/v1/status", "/api/v1/objects", "/api/v1/audit", "//api/v1/status", "/./api/v1/status"] {
            #expect(try await controller.send("GET", path, headers: cookie).status == 401, "\(path) answered a cookie")
            #expect(try await controller.get(path, token: Tokens.admin).status == 200)
        }
        await controller.stop()
    }

    @Test func aSignedDeliveryReplayedStartsOneReconcileAndAnotherDeliveryIdDoesNotHelp() async throws {
        let project = try await ServerProject(deployment: false)
        let controller = try await LiveController(project)
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()
        let body = WebhookTests.payload(.github, url: project.url)
        let signed = WebhookTests.headers(.github, body: body, secret: LiveController.webhookSecret)
        var refreshes = 0
        for attempt in 0..<20 {
            // An attacker may change the delivery id, which is not signed.
            let r = try await controller.send("POST", "/hooks/github", body: body, headers: signed + [("X-GitHub-Delivery", "d-\(attempt % 3)")])
            #expect([200, 202].contains(r.status), "\(r.text)")
            if r.text.contains(#""refresh":true"#) { refreshes += 1 }
        }
        #expect(refreshes == 1)
        let metrics = try await controller.get("/metrics").text
        #expect(metrics.contains(#"gantry_webhook_deliveries_total{provider="github",result="replayed"} 19"#), "\(metrics)")
        // A generic push that names no commit may repeat its body: it is
        // known by its delivery id instead.
        let generic = WebhookTests.payload(.generic, url: project.url).replacingOccurrences(of: #", "after": "abc123""#, with: "")
        for delivery in ["g-1", "g-2"] {
            let r = try await controller.send(
                "POST", "/hooks/generic", body: generic,
                headers: WebhookTests.headers(.generic, body: generic, secret: LiveController.webhookSecret)
                    + [("X-Gantry-Delivery", delivery)])
            #expect(r.text.contains(#""refresh":true"#), "\(delivery): \(r.text)")
        }
        // A new push (another body) is heard.
        let next = body.replacingOccurrences(of: "abc123", with: "def456")
        let r = try await controller.send(
            "POST", "/hooks/github", body: next,
            headers: WebhookTests.headers(.github, body: next, secret: LiveController.webhookSecret))
        #expect(r.text.contains(#""refresh":true"#), "\(r.text)")
        await controller.stop()
    }

    @Test func aMalformedBodyIsRefusedAndChangesNothing() async throws {
        let project = try await ServerProject()
        let controller = try await LiveController(project)
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()
        for body in [#"{"reason": "#, #"["load test"]"#, #"{"reason": 42}"#] {
            let r = try await controller.send("POST", "/api/v1/deployments/demo-prod/suspend", token: Tokens.operator, body: body)
            #expect(r.status == 400, "\(body): \(r.status) \(r.text)")
            #expect(r.text.contains("the body is not the JSON this call takes"), "\(r.text)")
            let rollback = try await controller.send("POST", "/api/v1/deployments/demo-prod/rollback", token: Tokens.operator, body: body)
            #expect(rollback.status == 400, "\(body): \(rollback.text)")
        }
        #expect(try controller.store.suspensions().isEmpty)
        #expect(try controller.store.auditLog().allSatisfy { $0.action != "suspend" && $0.action != "rollback" })
        // No body at all is still fine: the reason is optional.
        #expect(try await controller.send("POST", "/api/v1/deployments/demo-prod/suspend", token: Tokens.operator).status == 200)
        await controller.stop()
    }
}
