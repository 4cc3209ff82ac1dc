import Foundation
import HTTP
import Server
import State
import Testing

/// Every route, called with no token, an unknown token and each role.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct APITests {
    /// The concrete request for a route, and what success looks like.
    static func call(_ route: RouteDescription) -> (path: String, body: String?, success: Set<Int>) {
        let path = route.path.replacingOccurrences(of: "{name}", with: route.path.contains("/models/") ? "demo" : "demo-prod")
            .replacingOccurrences(of: "{version}", with: "1")
        switch (route.method, route.path) {
        case ("POST", "/api/v1/refresh"): return (path, nil, [202])
        case ("POST", "/api/v1/deployments/{name}/rollback"): return (path, #"{"reason": "matrix"}"#, [409])  // only v1 exists
        case ("POST", let p) where p.hasPrefix("/hooks/"): return (path, "{}", [401])  // unsigned
        case ("POST", "/login"): return (path, "token=nope", [401])
        case ("GET", "/logout"): return (path, nil, [303])
        // A dashboard button without its form's CSRF token: refused, even
        // for an operator (DashboardTests presses them with it).
        case ("POST", let p) where p.hasPrefix("/ui/"): return (path, "reason=matrix", [403])
        case ("GET", "/ui/events"): return (path + "?once=1", nil, [200])
        case ("POST", _): return (path, #"{"reason": "matrix"}"#, [200])
        default: return (path, nil, [200])
        }
    }

    @Test func everyRouteAnswersEachRoleAsDocumentedAndRefusedCallsChangeNothing() async throws {
        let controller = try await LiveController(try await ServerProject())
        defer { Task { await controller.stop() } }  // on a failure; the end of the test awaits it
        try await controller.waitForFirstReconcile()
        let callers: [(name: String, token: String?, role: Role?)] = [
            ("no token", nil, nil), ("unknown token", "not-a-token", nil),
            ("viewer", Tokens.viewer, .viewer), ("operator", Tokens.operator, .operator), ("admin", Tokens.admin, .admin),
        ]
        var checked = 0
        for route in GantryServer.routes {
            let (path, body, success) = Self.call(route)
            for caller in callers {
                let auditBefore = try controller.store.auditLog(limit: 1000).count
                let suspendedBefore = try controller.store.suspensions()
                let r = try await controller.send(route.method, path, token: caller.token, body: body)
                let label = "\(route.method) \(route.path) as \(caller.name): \(r.status) \(r.text.prefix(200))"
                guard let needed = route.role else {
                    #expect(success.contains(r.status), "\(label)")
                    continue
                }
                if caller.role == nil {
                    let page = route.method == "GET" && !route.path.hasPrefix("/api/")
                    #expect(r.status == 401, "\(label)")
                    if !page { #expect(r.headers["www-authenticate"]?.hasPrefix("Bearer") == true, "\(label)") }
                } else if caller.role! < needed {
                    #expect(r.status == 403, "\(label)")
                    #expect(r.text.contains("needs \(needed.rawValue)"), "\(label)")
                } else {
                    #expect(success.contains(r.status), "\(label)")
                }
                if route.method == "POST" && (caller.role.map { $0 < needed } ?? true || route.path.hasPrefix("/ui/")) {
                    #expect(try controller.store.auditLog(limit: 1000).count == auditBefore, "refused: \(label)")
                    #expect(try controller.store.suspensions() == suspendedBefore, "refused: \(label)")
                }
                checked += 1
            }
        }
        #expect(checked == GantryServer.routes.filter { $0.role != nil }.count * callers.count)

        // Successful mutating calls are audited under the token's name.
        let audit = try controller.store.auditLog(limit: 1000).filter { $0.detail.hasPrefix("via the API") }
        #expect(Set(audit.map(\.actor)) == ["olivia", "adam"])
        #expect(audit.contains { $0.action == "suspend" && $0.object == "Deployment/demo-prod" && $0.actor == "olivia" })
        #expect(audit.contains { $0.action == "refresh" && $0.actor == "adam" })
        await controller.stop()
    }

    @Test func viewersSeeObjectsVersionsLineageDriftHistoryAndThePlan() async throws {
        let controller = try await LiveController(try await ServerProject())
        defer { Task { await controller.stop() } }  // on a failure; the end of the test awaits it
        try await controller.waitForFirstReconcile()

        let objects = try await controller.json("/api/v1/objects") as! [[String: Any]]
        let deployment = objects.first { $0["name"] as? String == "demo-prod" }
        #expect((deployment?["sync"] as? [String: Any])?["status"] as? String == "Synced")
        #expect((deployment?["health"] as? [String: Any])?["status"] as? String == "Healthy")
        let model = objects.first { $0["kind"] as? String == "Model" }
        #expect((model?["sync"] as? [String: Any])?["status"] as? String == "Synced")

        let versions = try await controller.json("/api/v1/models/demo/versions") as! [[String: Any]]
        #expect(versions.count == 1)
        #expect((versions.first?["metrics"] as? [String: Double])?["accuracy"] == 0.8)
        #expect(versions.first?["servedBy"] as? [String] == ["demo-prod"])

        let lineage = try await controller.json("/api/v1/models/demo/versions/1/lineage") as! [String: Any]
        #expect((lineage["lineage"] as? [String: Any])?["codePath"] as? String == "src")
        #expect(lineage["changesSinceParent"] as? [String] == ["first version"])

        let drift = try await controller.json("/api/v1/drift") as! [Any]
        #expect(drift.isEmpty)
        let plan = try await controller.json("/api/v1/plan") as! [String: Any]
        #expect((plan["text"] as? String)?.contains("No changes") == true)
        let history = try await controller.json("/api/v1/history") as! [String: Any]
        #expect(((history["reconciles"] as? [[String: Any]])?.first?["result"] as? String) == "applied")
        let status = try await controller.json("/api/v1/status") as! [String: Any]
        #expect(status["ready"] as? Bool == true)
        #expect(try await controller.get("/readyz").status == 200)
        #expect(try await controller.get("/api/v1/models/nope", token: Tokens.viewer).status == 404)
        await controller.stop()
    }
}
