import Foundation
import Hummingbird

/// The request context: who called, once the bearer token (or, for the
/// dashboard's pages, the login cookie) was checked.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The token that authenticated this request, if any.
    public var caller: TokenEntry?
    /// A credential was offered but matched no token.
    public var rejectedCredential = false

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// The caller if it has at least `role`; otherwise 401 (no or unknown
    /// token) or 403 (a token whose role is too low).
    @discardableResult
    public func require(_ role: Role) throws -> TokenEntry {
        guard let caller else {
            throw APIError(.unauthorized, rejectedCredential ? "unknown token" : "a bearer token is required")
        }
        guard caller.role >= role else {
            throw APIError(.forbidden, "token \(caller.name) has role \(caller.role.rawValue); this needs \(role.rawValue)")
        }
        return caller
    }
}

/// An error answered as `{"error": "…"}` with its status.
public struct APIError: HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String

    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status.code) \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        if status == .unauthorized { headers[.wwwAuthenticate] = #"Bearer realm="gantry""# }
        let body = (try? JSONEncoder().encode(["error": message])) ?? Data()
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// JSON responses with the encoder every route shares: ISO 8601 dates,
/// sorted keys, so that answers are stable and diffable.
struct JSON<Value: Encodable & Sendable>: ResponseGenerator {
    var value: Value
    var status: HTTPResponse.Status = .ok

    init(_ value: Value, status: HTTPResponse.Status = .ok) {
        self.value = value
        self.status = status
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try Self.encoder.encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// A page of the dashboard.
struct HTML: ResponseGenerator {
    var text: String
    var status: HTTPResponse.Status = .ok
    var headers: HTTPFields = [:]

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentSecurityPolicy] =
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

extension String {
    /// Escaped for HTML text and attribute values.
    var html: String {
        var out = ""
        out.reserveCapacity(count)
        for c in self {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
