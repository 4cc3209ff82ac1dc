import Foundation
import Git
import Lineage
import Manifests
import Planner
import Source
import State
import Targets

/// Runs the reconcile pipeline: desired state from a revision, observed
/// state from the store and the drivers (`Observe.swift`), a plan, and its
/// execution with every step recorded (`Apply.swift`, one executor per
/// action in `Actions/`).
///
///     let reconciler = Reconciler(store: store, workspace: workspace)
///     let (desired, plan) = await reconciler.plan(revision)
///     let report = await reconciler.apply(plan, desired: desired, actor: "cli")
public final class Reconciler: Sendable {
    public let store: StateStore
    public let workspace: Workspace
    /// Where promotions write pin bumps; nil leaves Git alone.
    let writeBack: GitSource?
    let author: Signature
    let log: @Sendable (String) -> Void
    /// Builds the driver for a target; tests hand in a fake.
    let makeDriver: DriverFactory
    /// Where launches are recorded before they start.
    let journal: LaunchJournal
    /// The planner, with what it remembers from one plan to the next.
    public let planner: IncrementalPlanner
    /// The last desired state's model states, carried over where their
    /// inputs did not change.
    public let desiredMemo = DesiredState.Memo()
    /// The canaries under way, step by step: what metrics and the API show.
    public let canaries = CanaryProgress()
    /// What another controller observed, used instead of asking the
    /// drivers: a plan made on a machine that runs nothing.
    let recorded: Recorded?
    /// Where data snapshots are pushed after a training and pulled from
    /// when this machine lacks one; nil keeps them on this machine only.
    public let snapshotRemote: SnapshotRemote?

    /// Observations made elsewhere (``StateSnapshot``).
    public struct Recorded: Sendable {
        public var observations: [Slot: ObservedDeployment]
        public var inFlight: Set<String>
    }

    public init(
        store: StateStore, workspace: Workspace, writeBack: GitSource? = nil,
        author: Signature = Signature(name: "Gantry", email: "gantry@localhost"),
        drivers: @escaping DriverFactory = Drivers.make,
        planner: IncrementalPlanner = IncrementalPlanner(),
        recorded: Recorded? = nil, snapshotRemote: SnapshotRemote? = nil,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.recorded = recorded
        self.snapshotRemote = snapshotRemote
        self.store = store
        self.workspace = workspace
        self.writeBack = writeBack
        self.author = author
        self.makeDriver = drivers
        self.journal = LaunchJournal(store: store)
        self.planner = planner
        self.log = log
    }

    /// An action that did not run because a policy says so (a version that
    /// fails its gates is never promoted); not a failure.
    struct Blocked: Error, CustomStringConvertible {
        var description: String
    }

    /// The driver for target `name`; throws when Git does not declare it or
    /// it cannot be built.
    func driver(_ name: String, _ manifests: ManifestSet) throws -> any TargetDriver {
        try Drivers.make(target: name, in: manifests, workspace: workspace, versions: store, factory: makeDriver)
    }

    // MARK: - Plan

    /// Desired state and the plan for `revision`. Reads data to fingerprint
    /// it and probes health; starts, stops and writes nothing.
    /// With `readOnly`, not even the file-hash cache is written.
    public func plan(_ revision: Revision, readOnly: Bool = false, now: Date = Date()) async throws -> (DesiredState, Plan) {
        let assessment = try await assess(revision, readOnly: readOnly, now: now)
        return (assessment.desired, assessment.plan)
    }

    /// Desired state, observed state and the plan between them: what the
    /// controller keeps to show (health, drift) besides the plan itself.
    public struct Assessment: Sendable {
        public var desired: DesiredState
        public var observed: ObservedState
        public var plan: Plan
    }

    public func assess(_ revision: Revision, readOnly: Bool = false, now: Date = Date()) async throws -> Assessment {
        let desired =
            revision.isValid
            ? await DesiredState.compute(
                revision, fingerprinter: Fingerprinter(store: store, cacheWrites: !readOnly), now: now,
                memo: desiredMemo)
            : DesiredState(revision: revision, models: [:])
        var observed = try await observe(desired)
        observed.now = now
        var plan = planner.plan(desired: desired, observed: observed)
        plan.blocked += readinessWarnings(plan, desired.manifests, versions: observed.versions, deployments: observed.deployments)
        return Assessment(desired: desired, observed: observed, plan: plan)
    }
}

/// Promotion gates against a version's metrics.
public enum Gates {
    public static func evaluate(_ gates: [String], metrics: [String: Double]) -> (passed: Bool, report: String) {
        var failures: [String] = []
        for text in gates {
            guard let gate = MetricGate(parsing: text) else { continue }
            guard let value = metrics[gate.metric] else {
                failures.append("\(gate.metric) missing from metrics")
                continue
            }
            if !gate.passes(value) { failures.append("\(gate.metric) \(value) fails \(gate)") }
        }
        return (failures.isEmpty, failures.isEmpty ? (gates.isEmpty ? "no gates" : "all gates pass") : failures.joined(separator: "; "))
    }
}
