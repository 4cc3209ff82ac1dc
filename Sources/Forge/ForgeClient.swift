import Foundation
import HTTP

/// A GitHub-compatible forge (GitHub, Gitea) over its REST API: one plan
/// comment per pull request, updated in place, and a commit status.
///
///     let forge = ForgeClient(provider: .github, repository: "org/models", token: token)
///     let comment = try await forge.upsertComment(pullRequest: 42, body: markdown, marker: "<!-- gantry:plan")
public struct ForgeClient: Sendable {
    public enum Provider: String, Sendable, CaseIterable {
        case github, gitea

        public var defaultAPI: String? { self == .github ? "https://api.github.com" : nil }
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public let provider: Provider
    public let apiURL: String
    /// `owner/name`.
    public let repository: String
    let token: String
    let http: HTTPClient

    public init(provider: Provider, apiURL: String, repository: String, token: String, http: HTTPClient = .shared) {
        self.provider = provider
        self.apiURL = apiURL.hasSuffix("/") ? String(apiURL.dropLast()) : apiURL
        self.repository = repository
        self.token = token
        self.http = http
    }

    struct Comment: Codable {
        var id: Int
        var body: String?
    }

    /// Updates the comment that starts with `marker`, or creates one.
    /// Returns the comment id and whether it was created.
    public func upsertComment(pullRequest: Int, body: String, marker: String) async throws -> (id: Int, created: Bool) {
        let existing = try await comments(pullRequest).first { $0.body?.hasPrefix(marker) == true }
        let payload = try JSONEncoder().encode(["body": body])
        if let existing {
            _ = try await send("PATCH", "/repos/\(repository)/issues/comments/\(existing.id)", body: payload)
            return (existing.id, false)
        }
        let created = try await send("POST", "/repos/\(repository)/issues/\(pullRequest)/comments", body: payload)
        let comment = try JSONDecoder().decode(Comment.self, from: Data(created.body))
        return (comment.id, true)
    }

    func comments(_ pullRequest: Int) async throws -> [Comment] {
        var all: [Comment] = []
        let pageSize = provider == .github ? 100 : 50
        for page in 1...50 {
            let size = provider == .github ? "per_page=\(pageSize)" : "limit=\(pageSize)"
            let r = try await send("GET", "/repos/\(repository)/issues/\(pullRequest)/comments?\(size)&page=\(page)")
            let batch = try JSONDecoder().decode([Comment].self, from: Data(r.body))
            all += batch
            if batch.count < pageSize { break }
        }
        return all
    }

    /// Sets a commit status: `success`, `failure`, `pending` or `error`.
    public func setStatus(sha: String, state: String, context: String, description: String, targetURL: String? = nil) async throws {
        var payload = ["state": state, "context": context, "description": String(description.prefix(140))]
        if let targetURL { payload["target_url"] = targetURL }
        _ = try await send("POST", "/repos/\(repository)/statuses/\(sha)", body: try JSONEncoder().encode(payload))
    }

    func send(_ method: String, _ path: String, body: Data? = nil) async throws -> HTTPResponse {
        var headers: [(name: String, value: String)] = [
            ("Accept", provider == .github ? "application/vnd.github+json" : "application/json"),
            ("Authorization", provider == .github ? "Bearer \(token)" : "token \(token)"),
        ]
        if provider == .github { headers.append(("X-GitHub-Api-Version", "2022-11-28")) }
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let request = HTTPRequest(method: method, url: apiURL + path, headers: headers, body: body.map { [UInt8]($0) }, timeout: .seconds(30))
        var response: HTTPResponse?
        for attempt in 0..<3 {
            do {
                response = try await http.send(request)
                if let r = response, r.status >= 500, method == "GET", attempt < 2 {
                    try await Task.sleep(for: .milliseconds(200 << attempt))
                    continue
                }
                break
            } catch let e as HTTPError where e.isConnectionFailure && attempt < 2 {
                try await Task.sleep(for: .milliseconds(200 << attempt))
            }
        }
        guard let r = response else { throw Failure(description: "\(method) \(HTTPError.redact(apiURL + path)): no response") }
        guard (200..<300).contains(r.status) else {
            let excerpt = String(r.text.prefix(300)).replacingOccurrences(of: token, with: "[redacted]")
            throw Failure(description: "\(method) \(HTTPError.redact(apiURL + path)) answered \(r.status): \(excerpt)")
        }
        return r
    }
}
