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

/// The payload of libgit2's remote callbacks: the credentials to offer,
/// how often they were asked for (so a rejected token fails instead of being
/// offered forever), and a push's rejection message.
final class CallbackState {
    let credentials: GitCredentials?
    var attempts = 0
    var rejection: String?
    init(_ credentials: GitCredentials?) { self.credentials = credentials }

    /// Installs the credential and push-status callbacks on `callbacks`.
    func install(_ callbacks: inout git_remote_callbacks, payload: UnsafeMutableRawPointer) {
        callbacks.payload = payload
        callbacks.push_update_reference = { _, status, payload in
            if let status { Unmanaged<CallbackState>.fromOpaque(payload!).takeUnretainedValue().rejection = String(cString: status) }
            return 0
        }
        guard credentials != nil else { return }
        callbacks.credentials = { out, _, _, allowed, payload in
            let state = Unmanaged<CallbackState>.fromOpaque(payload!).takeUnretainedValue()
            state.attempts += 1
            guard state.attempts == 1, let c = state.credentials,
                allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0
            else { return GIT_EAUTH.rawValue }
            return git_credential_userpass_plaintext_new(out, c.username, c.token)
        }
    }
}

extension Repository {
    /// Fetches every branch and tag of `url` into `refs/remotes/origin/*` and
    /// `refs/tags/*`, pruning refs deleted upstream. Returns when the objects
    /// are stored; nothing is checked out.
    public func fetch(from url: String, credentials: GitCredentials? = nil) throws(GitError) {
        let box = Unmanaged.passRetained(CallbackState(credentials))
        defer { box.release() }
        try withRemote(url, operation: "fetch") { _, remote throws(GitError) in
            var options = git_fetch_options()
            try check(git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION)), "fetch options")
            options.prune = GIT_FETCH_PRUNE
            box.takeUnretainedValue().install(&options.callbacks, payload: box.toOpaque())
            options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL
            let specs = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]
            try withStrArray(specs) { array throws(GitError) in
                let code = git_remote_fetch(remote, array, &options, "gantry fetch")
                if code == GIT_EAUTH.rawValue || (code < 0 && box.takeUnretainedValue().attempts > 1) {
                    throw GitError(
                        operation: "fetch \(url)", code: code,
                        message: credentials == nil
                            ? "the server asks for credentials; give a token by reference (--token-env or --token-file)"
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
