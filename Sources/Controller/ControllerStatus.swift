import Foundation
import Lineage
import Planner
import Reconciler

/// What the reconcile loop last saw and decided, shared with the HTTP
/// server: the latest revision, desired and observed state, the pending
/// plan. The store holds history; this holds the present.
///
///     let status = ControllerStatus(source: "git://host/models.git@main")
///     status.update { $0.ready = true }
///     status.snapshot.plan?.actions
public final class ControllerStatus: @unchecked Sendable {
    public struct Snapshot: Sendable {
        public var source: String
        public var startedAt: Date
        /// The latest assessment: desired state from the last fetched
        /// revision, what the drivers observed, and the plan between them.
        public var assessment: Reconciler.Assessment?
        public var assessedAt: Date?
        public var lastFetchAt: Date?
        /// Result of the last reconcile that applied something.
        public var lastResult: String?
        /// The last loop's error, cleared by a loop that succeeds.
        public var lastError: String?
        /// Since when loops fail (Git unreachable, a corrupt pack, a state
        /// directory that cannot be written); nil while they succeed.
        /// What already serves keeps serving meanwhile.
        public var degradedSince: Date?
        public var loops: Int = 0
        /// A loop has fetched and planned at least once.
        public var ready = false
        /// SIGTERM arrived: no new work is accepted.
        public var stopping = false
        /// The last early wake-up and how long it took to start reconciling.
        public var lastWakeup: WakeupRecord?

        public var plan: Plan? { assessment?.plan }

        /// What readiness and status say: `ok`, `degraded` (loops fail) or
        /// `stopping`.
        public var health: String { stopping ? "stopping" : degradedSince != nil ? "degraded" : "ok" }
    }

    public struct WakeupRecord: Sendable, Codable {
        public var reason: String
        public var at: Date
        public var latencySeconds: Double
    }

    private let lock = NSLock()
    private var current: Snapshot

    public init(source: String) {
        current = Snapshot(source: source, startedAt: Date())
    }

    public var snapshot: Snapshot { lock.withLock { current } }

    public func update(_ change: (inout Snapshot) -> Void) {
        lock.withLock { change(&current) }
    }
}
