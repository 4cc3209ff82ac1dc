import Foundation

/// A peer's answer outside 2xx, with enough to act on: method, redacted URL,
/// status and the start of the body, with every known secret masked.
public struct HTTPStatusError: Error, Sendable, CustomStringConvertible {
    public var method: String
    public var url: String
    public var status: Int
    public var excerpt: String

    public var description: String {
        "\(method) \(url) answered \(status)" + (excerpt.isEmpty ? "" : ": \(excerpt)")
    }
}

/// A JSON-over-HTTP API at one base URL: the client every remote driver
/// uses. Calls retry with ``RetryPolicy`` (backoff with jitter, idempotent
/// calls only unless the request never left), answers outside 2xx throw
/// ``HTTPStatusError``, and errors never carry a credential.
///
///     let ray = RESTClient(baseURL: "http://127.0.0.1:8265")
///     let info: JobInfo = try await ray.get("/api/jobs/\(id)")
///     let created: Submitted = try await ray.post("/api/jobs/", json: submission)
public struct RESTClient: Sendable {
    public let baseURL: String
    public var auth: HTTPAuth
    public var retry: RetryPolicy
    public var timeout: Duration
    public var connectTimeout: Duration
    /// Sent with every call (`Accept`, an API version).
    public var headers: [(name: String, value: String)]
    /// Strings masked in every error excerpt, besides the auth's own.
    public var secrets: [String]
    /// For an https base URL: a CA to trust and a client certificate.
    public var tls: TLSClientFiles?
    let http: HTTPClient

    public init(
        baseURL: String, auth: HTTPAuth = .none, retry: RetryPolicy = .standard, timeout: Duration = .seconds(30),
        connectTimeout: Duration = .seconds(5), headers: [(name: String, value: String)] = [], secrets: [String] = [],
        http: HTTPClient = .shared
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.auth = auth
        self.retry = retry
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.headers = headers
        self.secrets = secrets
        self.http = http
    }

    /// The full URL of `path` (which starts with "/") with `query` encoded.
    public func url(_ path: String, query: [(String, String)] = []) -> String {
        guard !query.isEmpty else { return baseURL + path }
        let encoded = query.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        return baseURL + path + (path.contains("?") ? "&" : "?") + encoded
    }

    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// Percent-encodes everything but RFC 3986's unreserved characters.
    public static func encode(_ component: String) -> String {
        component.addingPercentEncoding(withAllowedCharacters: unreserved) ?? component
    }

    /// Sends a call and returns the 2xx response; any other status throws
    /// ``HTTPStatusError`` unless listed in `accept`. `idempotent`
    /// overrides what the method implies (a POST that is safe to repeat,
    /// such as a submission with a client-chosen id).
    @discardableResult
    public func send(
        _ method: String, _ path: String, query: [(String, String)] = [], body: [UInt8]? = nil,
        contentType: String? = nil, headers extra: [(name: String, value: String)] = [],
        idempotent: Bool? = nil, accept: Set<Int> = []
    ) async throws -> HTTPResponse {
        var all = headers + extra
        if let contentType { all.append(("Content-Type", contentType)) }
        let request = HTTPRequest(
            method: method, url: url(path, query: query), headers: all, body: body,
            timeout: timeout, connectTimeout: connectTimeout, auth: auth, tls: tls)
        var attempt = 1
        while true {
            do {
                let response = try await http.send(request)
                if (200..<300).contains(response.status) || accept.contains(response.status) { return response }
                if attempt < retry.attempts, RetryPolicy.isRetryable(method: method, idempotent: idempotent, status: response.status) {
                    try await Task.sleep(for: retry.delay(after: attempt))
                    attempt += 1
                    continue
                }
                throw HTTPStatusError(
                    method: method, url: HTTPError.redact(request.url), status: response.status,
                    excerpt: excerpt(response.body))
            } catch let error as HTTPError {
                guard attempt < retry.attempts, RetryPolicy.isRetryable(method: method, idempotent: idempotent, error: error) else {
                    throw HTTPError(
                        url: error.url, code: error.code,
                        message: "\(method) \(error.message)"
                            + (attempt > 1 ? " (after \(attempt) tries)" : ""))
                }
                try await Task.sleep(for: retry.delay(after: attempt))
                attempt += 1
            }
        }
    }

    /// GET and decode JSON.
    public func get<T: Decodable>(_ path: String, query: [(String, String)] = [], as type: T.Type = T.self) async throws -> T {
        try decode(type, from: try await send("GET", path, query: query, headers: [("Accept", "application/json")]))
    }

    /// Sends `json` encoded and decodes the JSON answer.
    public func call<T: Decodable>(
        _ method: String, _ path: String, json: some Encodable, query: [(String, String)] = [],
        idempotent: Bool? = nil, as type: T.Type = T.self
    ) async throws -> T {
        try decode(type, from: try await sendJSON(method, path, json: json, query: query, idempotent: idempotent))
    }

    public func post<T: Decodable>(_ path: String, json: some Encodable, idempotent: Bool? = nil, as type: T.Type = T.self) async throws -> T {
        try await call("POST", path, json: json, idempotent: idempotent, as: type)
    }

    /// Sends `json` encoded; the answer is returned undecoded.
    @discardableResult
    public func sendJSON(
        _ method: String, _ path: String, json: some Encodable, query: [(String, String)] = [],
        idempotent: Bool? = nil, accept: Set<Int> = []
    ) async throws -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try await send(
            method, path, query: query, body: Array(try encoder.encode(json)), contentType: "application/json",
            headers: [("Accept", "application/json")], idempotent: idempotent, accept: accept)
    }

    public func decode<T: Decodable>(_ type: T.Type, from response: HTTPResponse) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(response.body))
        } catch {
            throw HTTPStatusError(
                method: "decode", url: HTTPError.redact(baseURL), status: response.status,
                excerpt: "unexpected JSON (\(error)): " + excerpt(response.body))
        }
    }

    /// The first 300 characters of a body on one line, secrets masked.
    public func excerpt(_ body: [UInt8]) -> String {
        var text = String(decoding: body.prefix(2048), as: UTF8.self)
        for secret in secrets + auth.secrets where !secret.isEmpty {
            text = text.replacingOccurrences(of: secret, with: "***")
        }
        text = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }
}

extension HTTPAuth {
    /// The values to mask wherever text from a peer is shown.
    var secrets: [String] {
        switch self {
        case .none: []
        case .bearer(let token): [token]
        case .basic(_, let password): [password]
        case .awsSigV4(_, _, _, let secret): [secret]
        }
    }
}
