/// Every route the server answers, with the least role it needs (nil: no
/// token needed). docs/openapi.yaml documents each, and the tests call each
/// with every role.
public struct RouteDescription: Sendable, Hashable {
    public var method: String
    /// In OpenAPI's template form: `/api/v1/models/{name}`.
    public var path: String
    public var role: Role?
}

extension GantryServer {
    public static let routes: [RouteDescription] = [
        .init(method: "GET", path: "/healthz", role: nil),
        .init(method: "GET", path: "/readyz", role: nil),
        .init(method: "GET", path: "/metrics", role: nil),
        .init(method: "GET", path: "/api/v1/status", role: .viewer),
        .init(method: "GET", path: "/api/v1/objects", role: .viewer),
        .init(method: "GET", path: "/api/v1/models", role: .viewer),
        .init(method: "GET", path: "/api/v1/models/{name}", role: .viewer),
        .init(method: "GET", path: "/api/v1/models/{name}/versions", role: .viewer),
        .init(method: "GET", path: "/api/v1/models/{name}/versions/{version}/lineage", role: .viewer),
        .init(method: "GET", path: "/api/v1/deployments", role: .viewer),
        .init(method: "GET", path: "/api/v1/deployments/{name}", role: .viewer),
        .init(method: "GET", path: "/api/v1/drift", role: .viewer),
        .init(method: "GET", path: "/api/v1/rollouts", role: .viewer),
        .init(method: "GET", path: "/api/v1/plan", role: .viewer),
        .init(method: "GET", path: "/api/v1/state", role: .viewer),
        .init(method: "GET", path: "/api/v1/trainings", role: .viewer),
        .init(method: "GET", path: "/api/v1/models/{name}/logs", role: .viewer),
        .init(method: "GET", path: "/api/v1/history", role: .viewer),
        .init(method: "GET", path: "/api/v1/audit", role: .admin),
        .init(method: "POST", path: "/api/v1/refresh", role: .operator),
        .init(method: "POST", path: "/api/v1/models/{name}/suspend", role: .operator),
        .init(method: "POST", path: "/api/v1/models/{name}/resume", role: .operator),
        .init(method: "POST", path: "/api/v1/deployments/{name}/suspend", role: .operator),
        .init(method: "POST", path: "/api/v1/deployments/{name}/resume", role: .operator),
        .init(method: "POST", path: "/api/v1/deployments/{name}/rollback", role: .operator),
        .init(method: "POST", path: "/hooks/github", role: nil),
        .init(method: "POST", path: "/hooks/gitlab", role: nil),
        .init(method: "POST", path: "/hooks/gitea", role: nil),
        .init(method: "POST", path: "/hooks/generic", role: nil),
        .init(method: "GET", path: "/", role: .viewer),
        .init(method: "GET", path: "/models/{name}", role: .viewer),
        .init(method: "GET", path: "/models/{name}/log", role: .viewer),
        .init(method: "GET", path: "/ui/live.js", role: nil),
        .init(method: "GET", path: "/ui/events", role: .viewer),
        .init(method: "POST", path: "/ui/refresh", role: .operator),
        .init(method: "POST", path: "/ui/models/{name}/suspend", role: .operator),
        .init(method: "POST", path: "/ui/models/{name}/resume", role: .operator),
        .init(method: "POST", path: "/ui/deployments/{name}/suspend", role: .operator),
        .init(method: "POST", path: "/ui/deployments/{name}/resume", role: .operator),
        .init(method: "POST", path: "/ui/deployments/{name}/rollback", role: .operator),
        .init(method: "GET", path: "/login", role: nil),
        .init(method: "POST", path: "/login", role: nil),
        .init(method: "GET", path: "/logout", role: nil),
    ]
}
