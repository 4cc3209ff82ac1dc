import Crypto
import Foundation
import Hummingbird

/// Where webhook deliveries come from, and how each proves it knows the
/// shared secret.
public enum WebhookProvider: String, Sendable, CaseIterable {
    /// `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>`.
    case github
    /// `X-Gitlab-Token: <the secret itself>`.
    case gitlab
    /// `X-Gitea-Signature: <HMAC-SHA256 of the body>` (Forgejo too).
    case gitea
    /// `X-Gantry-Signature: sha256=<HMAC-SHA256 of the body>`, for any
    /// system that can sign; the body is `{"repository": URL, "ref": …}`.
    case generic

    func verify(headers: HTTPFields, body: [UInt8], secret: String) -> Bool {
        switch self {
        case .github: return Self.hmacMatches(header(headers, "X-Hub-Signature-256"), prefix: "sha256=", body: body, secret: secret)
        case .gitea: return Self.hmacMatches(header(headers, "X-Gitea-Signature"), prefix: "", body: body, secret: secret)
        case .generic: return Self.hmacMatches(header(headers, "X-Gantry-Signature"), prefix: "sha256=", body: body, secret: secret)
        case .gitlab:
            guard let token = header(headers, "X-Gitlab-Token") else { return false }
            return Self.constantTimeEqual(Array(token.utf8), Array(secret.utf8))
        }
    }

    /// The event kind the provider names in its headers.
    func event(headers: HTTPFields) -> String? {
        switch self {
        case .github: return header(headers, "X-GitHub-Event")
        case .gitlab: return header(headers, "X-Gitlab-Event")
        case .gitea: return header(headers, "X-Gitea-Event") ?? header(headers, "X-GitHub-Event")
        case .generic: return header(headers, "X-Gantry-Event") ?? "push"
        }
    }

    /// The provider's id of this delivery, which a redelivery repeats.
    func deliveryID(headers: HTTPFields) -> String? {
        switch self {
        case .github: return header(headers, "X-GitHub-Delivery")
        case .gitlab: return header(headers, "X-Gitlab-Event-UUID")
        case .gitea: return header(headers, "X-Gitea-Delivery") ?? header(headers, "X-GitHub-Delivery")
        case .generic: return header(headers, "X-Gantry-Delivery")
        }
    }

    func isPush(_ event: String?) -> Bool {
        guard let event = event?.lowercased() else { return false }
        return event == "push" || event == "push hook"
    }

    private func header(_ headers: HTTPFields, _ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.canonicalName == wanted }?.value
    }

    public static func signature(body: [UInt8], secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    static func hmacMatches(_ header: String?, prefix: String, body: [UInt8], secret: String) -> Bool {
        guard let header, header.hasPrefix(prefix) else { return false }
        let given = Array(header.dropFirst(prefix.count).lowercased().utf8)
        return constantTimeEqual(given, Array(signature(body: body, secret: secret).utf8))
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}

/// What a push says: which repository (under every URL the provider gives
/// for it), which ref, and the new tip.
struct PushEvent: Sendable {
    var repositories: [String]
    var ref: String
    var after: String

    init?(json body: [UInt8]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        var urls: [String] = []
        if let url = object["repository"] as? String { urls.append(url) }
        for key in ["repository", "project"] {
            guard let repo = object[key] as? [String: Any] else { continue }
            for field in ["clone_url", "ssh_url", "git_url", "html_url", "url", "git_http_url", "git_ssh_url", "web_url", "homepage"] {
                if let url = repo[field] as? String { urls.append(url) }
            }
        }
        guard !urls.isEmpty, let ref = object["ref"] as? String ?? (object["branch"] as? String).map({ "refs/heads/\($0)" }) else { return nil }
        repositories = urls
        self.ref = ref
        after = object["after"] as? String ?? object["checkout_sha"] as? String ?? ""
    }

    var branch: String? {
        ref.hasPrefix("refs/heads/") ? String(ref.dropFirst("refs/heads/".count)) : nil
    }

    /// Whether this push is to the repository and branch the controller
    /// follows. A source without a ref follows whatever a push names.
    func matches(_ source: GantryServer.FollowedSource) -> Bool {
        let wanted = Self.normalize(source.location)
        guard repositories.contains(where: { Self.normalize($0) == wanted }) else { return false }
        guard let ref = source.ref else { return true }
        let followed = ref.hasPrefix("refs/heads/") ? String(ref.dropFirst("refs/heads/".count)) : ref
        return branch == followed || self.ref == ref
    }

    /// One spelling for the many ways to name a repository:
    /// `https://user@Host/org/models.git`, `git@host:org/models`,
    /// `ssh://git@host/org/models/` all become `host/org/models`.
    static func normalize(_ location: String) -> String {
        var s = location.trimmingCharacters(in: .whitespaces)
        if let scheme = s.range(of: "://") {
            s = String(s[scheme.upperBound...])
        } else if let colon = s.firstIndex(of: ":"), !s[..<colon].contains("/") {
            s.replaceSubrange(colon...colon, with: "/")
        }
        if let at = s.firstIndex(of: "@"), !s[..<at].contains("/") { s = String(s[s.index(after: at)...]) }
        while s.hasSuffix("/") { s.removeLast() }
        if s.hasSuffix(".git") { s.removeLast(4) }
        if let slash = s.firstIndex(of: "/"), slash != s.startIndex {
            s = s[..<slash].lowercased() + s[slash...]
        }
        return s
    }
}

extension GantryServer {
    /// Whether a push body names the followed repository and branch.
    public static func pushMatches(body: [UInt8], source: FollowedSource) -> Bool {
        PushEvent(json: body)?.matches(source) ?? false
    }
}
