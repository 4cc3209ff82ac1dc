import Foundation
import Hummingbird
import Listener
import Logging
import Targets

/// The node agent's HTTP face (docs/agent-openapi.yaml): a thin shell over
/// ``AgentNode``. Every route but `GET /v1/health` needs a bearer token the
/// token file lists; a refused call answers 401 and changes nothing.
///
///     let server = AgentServer(node: node, tokens: try AgentTokens.load(path: "/etc/gantry/agent-tokens"), version: "0.1.0")
///     try await ServiceGroup(services: [server.application(host: "0.0.0.0", port: 7443, logger: logger)], logger: logger).run()
public struct AgentServer: Sendable {
    let node: AgentNode
    let tokens: AgentTokens
    let version: String

    public init(node: AgentNode, tokens: AgentTokens, version: String) {
        self.node = node
        self.tokens = tokens
        self.version = version
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: BearerToken(tokens: tokens))
        router.get("/v1/health") { _, _ in "ok\n" }
        router.get("/v1/info") { _, _ in
            AgentJSON(AgentAPI.Info(version: version, workspace: node.workspace.root))
        }
        addBlobRoutes(router)
        addRunRoutes(router)
        addDeploymentRoutes(router)
        return router
    }

    public func application(
        host: String, port: Int, logger: Logger, limits: ConnectionLimits = ConnectionLimits(),
        tls: TLSFiles? = nil,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        Application(
            router: router(), server: try limits.server(tls: tls),
            configuration: .init(address: .hostname(host, port: port), serverName: "gantry-agent"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }
}

/// Refuses every call without an accepted bearer token, before any route
/// runs; only the health check is open.
struct BearerToken: RouterMiddleware {
    typealias Context = BasicRequestContext
    let tokens: AgentTokens

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.method == .get && request.uri.path == "/v1/health" { return try await next(request, context) }
        guard let header = request.headers[.authorization] else { throw AgentError(.unauthorized, "a bearer token is required") }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer",
            tokens.accepts(String(parts[1]).trimmingCharacters(in: .whitespaces))
        else {
            throw AgentError(.unauthorized, "unknown token")
        }
        return try await next(request, context)
    }
}

/// An error answered as `{"error": "…"}` with its status.
struct AgentError: HTTPResponseError, CustomStringConvertible {
    var status: HTTPResponse.Status
    var message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    var description: String { "\(status.code) \(message)" }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        if status == .unauthorized { headers[.wwwAuthenticate] = #"Bearer realm="gantry-agent""# }
        let body = (try? JSONEncoder().encode(AgentAPI.Failure(error: message))) ?? Data()
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The answer for a node's refusal or failure.
    static func from(_ error: Error) -> Error {
        guard let problem = error as? AgentNode.Problem else { return error is AgentError ? error : AgentError(.internalServerError, "\(error)") }
        switch problem.kind {
        case .badRequest: return AgentError(.badRequest, problem.description)
        case .notFound: return AgentError(.notFound, problem.description)
        case .missingBlob: return AgentError(.conflict, problem.description)
        // Not retried by clients: the same request would fail the same way.
        case .failed: return AgentError(.unprocessableContent, problem.description)
        }
    }
}

/// A JSON answer, encoded the way ``Targets/AgentTarget`` decodes it.
struct AgentJSON<Value: Encodable & Sendable>: ResponseGenerator {
    var value: Value
    var status: HTTPResponse.Status = .ok

    init(_ value: Value, status: HTTPResponse.Status = .ok) {
        self.value = value
        self.status = status
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}

extension Request {
    /// The JSON body as `T`; 400 with the decoder's complaint otherwise.
    func json<T: Decodable>(_ type: T.Type) async throws -> T {
        let buffer = try await body.collect(upTo: 16 << 20)
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw AgentError(.badRequest, "invalid \(T.self) body: \(error)")
        }
    }
}
