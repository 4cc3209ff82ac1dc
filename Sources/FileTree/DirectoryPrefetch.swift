import CThreads
import Foundation
import Synchronization

/// Directory listings started before anything asks for them.
///
/// A warm `gantry data status` is mostly one stat per file, and otherwise
/// the listing would begin only after the arguments are parsed, the state
/// store opened and the manifests read (about 7 ms of a 25 ms command,
/// on one thread). A command that will probably list the same
/// directories as last time names them up front (`start`), from a file of
/// its own; each is listed on another thread meanwhile, and `listing(of:)`
/// hands over the result, or lists a directory nobody predicted. A wrong
/// guess costs only the wasted listing: a prefetched listing is as current
/// as any taken while the command runs.
///
///     DirectoryPrefetch.start { ["/srv/data/churn"] }     // as the process starts
///     ...
///     let listing = DirectoryPrefetch.listing(of: "/srv/data/churn")
public enum DirectoryPrefetch {
    private final class Plan: @unchecked Sendable {
        let condition = NSCondition()
        /// Nil until `predict` has answered.
        var directories: [String]?
        var listings: [String: DirectoryListing] = [:]
        var taken: Set<String> = []
    }

    /// The plan `start` made, and every directory listed so far.
    private static let state = Mutex<(plan: Plan?, listed: [String])>((nil, []))

    /// On a thread of its own: asks `predict` which directories to list
    /// (it may read a file) and lists them one after another. Call once,
    /// before any `listing(of:)`.
    public static func start(_ predict: @escaping @Sendable () -> [String]) {
        let started = Plan()
        state.withLock { $0.plan = started }
        // A bare thread, started on another CPU than this busy one (see
        // `gantry_thread_start_elsewhere`): a Foundation `Thread` began
        // about 2 ms late, most of what there is to gain.
        final class Work {
            let run: () -> Void
            init(_ run: @escaping () -> Void) { self.run = run }
        }
        let work = Unmanaged.passRetained(
            Work {
                let directories = predict()
                started.condition.withLock { started.directories = directories }
                started.condition.broadcast()
                for directory in directories {
                    let listing = DirectoryListing.scan(directory)
                    started.condition.withLock { started.listings[directory] = listing }
                    started.condition.broadcast()
                }
            }
        ).toOpaque()
        if gantry_thread_start_elsewhere(
            { work in
                Unmanaged<Work>.fromOpaque(work!).takeRetainedValue().run()
                return nil
            }, work) != 0
        {
            // No thread: nothing is predicted, and each listing is taken now.
            Unmanaged<Work>.fromOpaque(work).release()
            started.condition.withLock { started.directories = [] }
        }
    }

    /// The directories `start` was told to list; empty when none was
    /// started. Waits for the prediction.
    public static var predicted: [String] {
        guard let started = state.withLock({ $0.plan }) else { return [] }
        started.condition.lock()
        defer { started.condition.unlock() }
        while started.directories == nil { started.condition.wait() }
        return started.directories!
    }

    /// Every directory listed through `listing(of:)` so far, in order.
    public static var listed: [String] { state.withLock { $0.listed } }

    /// `directory`'s listing: the prefetched one when it was predicted (and
    /// not taken before), waiting for it to finish; else listed now.
    public static func listing(of directory: String) -> DirectoryListing {
        let started = state.withLock { state in
            state.listed.append(directory)
            return state.plan
        }
        if let started {
            started.condition.lock()
            defer { started.condition.unlock() }
            while started.directories == nil { started.condition.wait() }
            if started.directories!.contains(directory), !started.taken.contains(directory) {
                started.taken.insert(directory)
                while started.listings[directory] == nil { started.condition.wait() }
                return started.listings.removeValue(forKey: directory)!
            }
        }
        return DirectoryListing.scan(directory)
    }
}
