import Foundation
import Lineage
import State
import Targets

/// Observed state: what the state store and the drivers report.
public struct ObservedState: Sendable, Equatable {
    /// Setting these drops `versionsStamp`: it stands for what was read.
    public var versions: [String: [VersionRecord]] { didSet { versionsStamp = nil } }
    /// What each Deployment serves on each of its targets.
    public var deployments: [Slot: DeploymentRecord]
    /// What each target's driver saw of its record.
    public var observations: [Slot: ObservedDeployment]
    /// Keys of launches in flight (open intents).
    public var inFlight: Set<String>
    /// Objects an operator suspended (`Deployment/churn-prod`), by object.
    public var suspended: [String: SuspensionRecord]
    /// Versions a rollout failed with, by Deployment.
    public var holds: [String: HoldRecord]
    /// Where the store's versions stood when `versions` was read, when they
    /// were read from a store: two stamps tell which models' versions
    /// changed in between without comparing 10,000 lists.
    public var versionsStamp: VersionsStamp?
    /// When this was observed: a later stage's soak is measured to it. Not
    /// compared: the clock alone changes no object's plan but a stage's,
    /// which every plan visits.
    public var now: Date = Date()

    public init(
        versions: [String: [VersionRecord]], deployments: [Slot: DeploymentRecord],
        observations: [Slot: ObservedDeployment], inFlight: Set<String>,
        suspended: [String: SuspensionRecord] = [:], holds: [String: HoldRecord] = [:], versionsStamp: VersionsStamp? = nil
    ) {
        self.versions = versions
        self.deployments = deployments
        self.observations = observations
        self.inFlight = inFlight
        self.suspended = suspended
        self.holds = holds
        self.versionsStamp = versionsStamp
    }

    /// Equal stamps stand for equal versions; without stamps the versions
    /// themselves are compared.
    public static func == (a: ObservedState, b: ObservedState) -> Bool {
        let sameVersions = a.versionsStamp != nil && a.versionsStamp == b.versionsStamp
        return (sameVersions || a.versions == b.versions) && a.deployments == b.deployments && a.observations == b.observations
            && a.inFlight == b.inFlight && a.suspended == b.suspended && a.holds == b.holds
    }

    /// The models whose versions may differ from `earlier`'s: nil when the
    /// stamps cannot tell.
    func versionsChanged(since earlier: ObservedState) -> Set<String>? {
        guard let now = versionsStamp, let then = earlier.versionsStamp else { return nil }
        return now.changed(since: then)
    }
}
