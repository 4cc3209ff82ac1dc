import CGit2
import CGit2Loader
import CGitStream
import Foundation
import Synchronization

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
///
///     GitLibrary.prepare()      // first thing in main
///     ...                       // parse arguments, run the command
///     GitLibrary.exit(0)        // instead of exit(0)
public enum GitLibrary {
    private enum Stage: Int { case waiting, running, done, abandoned }
    private static let stage = Atomic<Int>(Stage.waiting.rawValue)

    /// Loads libgit2 and initialises it on a thread of its own: loading it
    /// and the 15 libraries it needs besides libc (`ldd`), then reading the
    /// system's CA certificates and initialising OpenSSL for libssh2, takes
    /// several milliseconds; a command started from a shell overlaps that
    /// with parsing its arguments and opening its state, and its first Git
    /// call waits only for what is left.
    public static func prepare() {
        Thread.detachNewThread {
            guard stage.compareExchange(expected: Stage.waiting.rawValue, desired: Stage.running.rawValue, ordering: .acquiringAndReleasing).exchanged else {
                return
            }
            _ = Library.failure
            stage.store(Stage.done.rawValue, ordering: .releasing)
        }
    }

    /// Waits for libgit2 to be loaded and initialised; throws why it
    /// cannot be (the library missing, or not the version built against).
    public static func ready() throws(GitError) {
        if let problem = Library.failure { throw GitError(operation: "load libgit2", code: -1, message: problem) }
    }

    /// Ends the process with `code`. An initialisation still running when
    /// `exit` runs the libraries' exit handlers crashes: OpenSSL's handler
    /// frees the locks that libssh2's initialisation is taking (one
    /// `gantry --version` in thirty died of SIGSEGV that way). So one that
    /// has not begun is called off, and while one is under way the process
    /// flushes its output and ends without running exit handlers, rather
    /// than wait milliseconds for an initialisation nothing will use.
    public static func exit(_ code: Int32) -> Never {
        let was = stage.compareExchange(expected: Stage.waiting.rawValue, desired: Stage.abandoned.rawValue, ordering: .acquiringAndReleasing).original
        if was == Stage.running.rawValue {
            fflush(nil)
            _exit(code)
        }
        Foundation.exit(code)
    }
}

/// libgit2 is loaded and initialised once per process; `static let` runs
/// this exactly once, thread-safely.
enum Library {
    /// Why libgit2 cannot be used, or nil once it is loaded and initialised.
    static let failure: String? = {
        guard gantry_git2_load() == 1 else { return String(cString: gantry_git2_load_error()) }
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
        return nil
    }()
}
