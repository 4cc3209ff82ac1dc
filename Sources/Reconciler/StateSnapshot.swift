import Foundation
import Planner
import State
import Targets

/// What a controller has recorded and last observed, as `GET
/// /api/v1/state` serves it: enough for another machine (a CI runner with
/// no state) to plan a pull request against what production runs, with
/// the versions' metrics beside the new ones.
public struct StateSnapshot: Codable, Sendable {
    public struct Observation: Codable, Sendable {
        public var deployment: String
        public var target: String
        public var observed: ObservedDeployment
    }

    /// When the controller observed its targets.
    public var observedAt: Date
    /// The commit it planned last.
    public var commit: String?
    public var versions: [VersionRecord]
    public var deployments: [DeploymentRecord]
    public var observations: [Observation]
    /// Trainings in flight, by launch key: a plan of the same lineage adopts them.
    public var inFlight: [String]
    public var suspensions: [SuspensionRecord]
    public var holds: [HoldRecord]
    /// The latest reconciles (at most 50), newest first.
    public var reconciles: [ReconcileRecord]?
    public var sources: [SourceRecord]?
    public var manualPins: [ManualPin]?

    /// The store's records with `observed`, the controller's last
    /// observation of its targets.
    public init(store: StateStore, observed: ObservedState, commit: String?) throws {
        observedAt = observed.now
        self.commit = commit
        versions = try store.allVersions()
        deployments = try store.deployments()
        observations = observed.observations.sorted { $0.key < $1.key }.map {
            Observation(deployment: $0.key.deployment, target: $0.key.target, observed: $0.value)
        }
        inFlight = observed.inFlight.sorted()
        suspensions = try store.suspensions()
        holds = try store.holds()
        reconciles = try store.reconciles(limit: 50)
        sources = try store.sources()
        manualPins = try store.manualPins()
    }

    /// Writes the records into `store`, which must be empty, and returns
    /// what the reconciler reports as observed instead of asking drivers.
    public func restore(into store: StateStore) throws -> Reconciler.Recorded {
        try store.importVersions(versions)
        for record in deployments { try store.save(record) }
        for record in suspensions { try store.suspend(record) }
        for record in holds { try store.save(record) }
        try store.importReconciles(reconciles ?? [])
        for record in sources ?? [] { try store.save(record) }
        for record in manualPins ?? [] { try store.save(record) }
        return Reconciler.Recorded(
            observations: Dictionary(observations.map { (Slot($0.deployment, $0.target), $0.observed) }, uniquingKeysWith: { a, _ in a }),
            inFlight: Set(inFlight))
    }
}
