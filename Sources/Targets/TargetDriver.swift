import Foundation
import Lineage
import Manifests
import Source
import State

/// What a driver reports about a Deployment it serves: read-only, so a plan
/// can be computed from it without side effects.
public struct ObservedDeployment: Sendable, Codable, Hashable {
    public var name: String
    /// Whether the serving process for the recorded version is running.
    public var serving: Bool
    /// Whether the stable address is being forwarded to that process.
    public var forwarding: Bool
    /// The health check's verdict; nil when nothing is serving.
    public var healthy: Bool?
    /// What was seen, in words: "health check answered 503".
    public var detail: String

    public init(name: String, serving: Bool, forwarding: Bool, healthy: Bool?, detail: String) {
        self.name = name
        self.serving = serving
        self.forwarding = forwarding
        self.healthy = healthy
        self.detail = detail
    }
}

/// A training run to launch: everything a driver needs, resolved from one
/// revision.
public struct TrainingRequest: Sendable {
    public var model: Entry<ModelSpec>
    public var pipeline: Entry<PipelineSpec>
    public var lineage: Lineage
    public var revision: Revision
    public var datasets: [String: Entry<DatasetSpec>]

    public init(model: Entry<ModelSpec>, pipeline: Entry<PipelineSpec>, lineage: Lineage, revision: Revision,
                datasets: [String: Entry<DatasetSpec>]) {
        self.model = model
        self.pipeline = pipeline
        self.lineage = lineage
        self.revision = revision
        self.datasets = datasets
    }
}

/// A finished training run's outputs.
public struct TrainingOutcome: Sendable, Codable {
    public var artifactPath: String
    public var artifactDigest: String
    public var metrics: [String: Double]
    /// Each step with how it ended: "prepare cached", "train succeeded".
    public var steps: [String]
}

/// A Deployment to bring to a version.
public struct DeployRequest: Sendable {
    public var deployment: Entry<DeploymentSpec>
    public var version: VersionRecord
    public var revision: Revision
    public var current: DeploymentRecord?
    public var specDigest: String

    public init(deployment: Entry<DeploymentSpec>, version: VersionRecord, revision: Revision,
                current: DeploymentRecord?, specDigest: String) {
        self.deployment = deployment
        self.version = version
        self.revision = revision
        self.current = current
        self.specDigest = specDigest
    }
}

public struct DriverError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One kind of target: observes what runs there and applies actions. Each
/// driver lives in its own folder; adding one is that folder plus one line
/// in `Drivers.make`.
public protocol TargetDriver: Sendable {
    func observe(_ record: DeploymentRecord, spec: DeploymentSpec?) async -> ObservedDeployment
    /// Trains and waits for the outcome. A launch interrupted earlier (an
    /// open intent for the same lineage) is adopted, never started twice.
    func train(_ request: TrainingRequest, intentKey: String) async throws -> TrainingOutcome
    func deploy(_ request: DeployRequest) async throws -> DeploymentRecord
    func stop(_ record: DeploymentRecord) async throws
}

/// The drivers this build has, by target type.
public enum Drivers {
    public static func make(type: TargetSpec.TargetType, workspace: Workspace, store: StateStore) -> (any TargetDriver)? {
        switch type {
        case .local: return LocalTarget(workspace: workspace, store: store)
        case .agent, .ray, .mlflow, .sagemaker: return nil
        }
    }
}
