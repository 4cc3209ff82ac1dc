import Foundation
import Lineage
import State
import Targets

/// Observed state: what the state store and the drivers report.
public struct ObservedState: Sendable, Equatable {
    /// Setting these drops `versionsStamp`: it stands for what was read.
    public var versions: [String: [VersionRecord]] { didSet { versionsStamp = nil } }
    public var deployments: [String: DeploymentRecord]
    public var observations: [String: ObservedDeployment]
    /// Keys of launches in flight (open intents).
    public var inFlight: Set<String>
    /// Objects an operator suspended (`Deployment/churn-prod`), by object.
    public var suspended: [String: SuspensionRecord]
    /// Where the store's versions stood when `versions` was read, when they
    /// were read from a store: two stamps tell which models' versions
    /// changed in between without comparing 10,000 lists.
    public var versionsStamp: VersionsStamp?

    public init(
        versions: [String: [VersionRecord]], deployments: [String: DeploymentRecord],
        observations: [String: ObservedDeployment], inFlight: Set<String>,
        suspended: [String: SuspensionRecord] = [:], versionsStamp: VersionsStamp? = nil
    ) {
        self.versions = versions
        self.deployments = deployments
        self.observations = observations
        self.inFlight = inFlight
        self.suspended = suspended
        self.versionsStamp = versionsStamp
    }

    /// Equal stamps stand for equal versions; without stamps the versions
    /// themselves are compared.
    public static func == (a: ObservedState, b: ObservedState) -> Bool {
        let sameVersions = a.versionsStamp != nil && a.versionsStamp == b.versionsStamp
        return (sameVersions || a.versions == b.versions) && a.deployments == b.deployments && a.observations == b.observations
            && a.inFlight == b.inFlight && a.suspended == b.suspended
    }

    /// The models whose versions may differ from `earlier`'s: nil when the
    /// stamps cannot tell.
    func versionsChanged(since earlier: ObservedState) -> Set<String>? {
        guard let now = versionsStamp, let then = earlier.versionsStamp else { return nil }
        return now.changed(since: then)
    }
}
