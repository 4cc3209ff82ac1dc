import CGit2
import Foundation

/// A username and token for HTTPS remotes. The token is only handed to
/// libgit2 when the server asks; it never appears in an error.
public struct GitCredentials: Sendable {
    public var username: String
    public var token: String

    public init(username: String, token: String) {
        self.username = username
        self.token = token
    }
}

/// Passed to libgit2's credential callback; counts attempts so a rejected
/// token fails the fetch instead of being offered forever.
final class CredentialBox {
    let credentials: GitCredentials
    var attempts = 0
    init(_ credentials: GitCredentials) { self.credentials = credentials }
}

extension Repository {
    /// Fetches every branch and tag of `url` into `refs/remotes/origin/*` and
    /// `refs/tags/*`, pruning refs deleted upstream. Returns when the objects
    /// are stored; nothing is checked out.
    public func fetch(from url: String, credentials: GitCredentials? = nil) throws(GitError) {
        let box = credentials.map { Unmanaged.passRetained(CredentialBox($0)) }
        defer { box?.release() }
        try withHandle { repo throws(GitError) in
            var remote: OpaquePointer?
            try check(git_remote_create_anonymous(&remote, repo, url), "fetch \(url)")
            defer { git_remote_free(remote) }
            var options = git_fetch_options()
            try check(git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION)), "fetch options")
            options.prune = GIT_FETCH_PRUNE
            if let box {
                options.callbacks.payload = box.toOpaque()
                options.callbacks.credentials = { out, _, _, allowed, payload in
                    let box = Unmanaged<CredentialBox>.fromOpaque(payload!).takeUnretainedValue()
                    box.attempts += 1
                    guard box.attempts == 1, allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0 else {
                        return GIT_EAUTH.rawValue
                    }
                    return git_credential_userpass_plaintext_new(out, box.credentials.username, box.credentials.token)
                }
            }
            options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL
            let specs = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]
            try withStrArray(specs) { array throws(GitError) in
                let code = git_remote_fetch(remote, array, &options, "gantry fetch")
                if code == GIT_EAUTH.rawValue || (code < 0 && (box?.takeUnretainedValue().attempts ?? 0) > 1) {
                    throw GitError(operation: "fetch \(url)", code: code,
                                   message: credentials == nil ? "the server asks for credentials; give a token by reference (--token-env or --token-file)"
                                                               : "the server rejected the credentials for user \(credentials!.username)")
                }
                try check(code, "fetch \(url)")
            }
        }
    }
}

/// Calls `body` with a `git_strarray` view of `strings`, valid only inside.
func withStrArray<T>(_ strings: [String], _ body: (UnsafeMutablePointer<git_strarray>) throws(GitError) -> T) throws(GitError) -> T {
    var cStrings = strings.map { strdup($0) }
    defer { cStrings.forEach { free($0) } }
    return try cStrings.withUnsafeMutableBufferPointer { buffer throws(GitError) in
        var array = git_strarray(strings: buffer.baseAddress, count: buffer.count)
        return try body(&array)
    }
}
