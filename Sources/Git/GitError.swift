import CGit2
import CGitStream
import Foundation

/// A libgit2 failure with libgit2's own message.
public struct GitError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var code: Int32
    public var message: String

    public var description: String { "\(operation): \(message)" }

    /// Reads libgit2's thread-local last error right after a failed call.
    static func last(_ operation: String, _ code: Int32) -> GitError {
        let message = git_error_last().flatMap { $0.pointee.message.map { String(cString: $0) } } ?? "libgit2 error \(code)"
        return GitError(operation: operation, code: code, message: message)
    }

    public var isNotFound: Bool { code == GIT_ENOTFOUND.rawValue }
}

@inline(__always)
func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(GitError) {
    if code < 0 { throw GitError.last(operation(), code) }
}

/// libgit2's one-time set-up, started early.
public enum GitLibrary {
    /// Starts libgit2's initialisation on a thread of its own. It reads the
    /// system's CA certificates (a few milliseconds); a command started
    /// from a shell overlaps that with parsing its arguments and opening
    /// its state, and its first Git call waits only for what is left.
    public static func prepare() {
        Thread.detachNewThread { _ = Library.initialised }
    }
}

/// libgit2 is initialised once per process; `static let` runs this exactly
/// once, thread-safely.
enum Library {
    static let initialised: Bool = {
        git_libgit2_init()
        // Caches are per repository handle; keep the object cache modest for a
        // controller that lives for months.
        _ = gantry_git_set_cache_max_size(64 << 20)
        // libgit2 caches no tree over 4 KiB by default: a directory of 200
        // datasets or 1,000 manifest files would be inflated from the pack
        // again for every path looked up in it, on every plan.
        _ = gantry_git_set_cache_object_limit(GIT_OBJECT_TREE, 1 << 20)
        // Sockets with Nagle's algorithm off: with it on, a fetch's second
        // small write waits up to 40 ms for the server's delayed ACK.
        _ = gantry_git_register_nodelay_stream()
        return true
    }()
}
