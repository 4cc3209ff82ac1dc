import Foundation
import Lineage
import Manifests
import Source
import StableAddress
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
    /// Datasets whose snapshot (by fingerprint) is in the snapshot remote:
    /// a node that trains elsewhere pulls them from there and reads its
    /// own copy.
    public var pulled: [String: String] = [:]

    public init(
        model: Entry<ModelSpec>, pipeline: Entry<PipelineSpec>, lineage: Lineage, revision: Revision,
        datasets: [String: Entry<DatasetSpec>]
    ) {
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
    /// What the training ran on, where the driver can tell (the local
    /// target and agents).
    public var runtime: CapturedRuntime?

    public init(artifactPath: String, artifactDigest: String, metrics: [String: Double], steps: [String]) {
        self.artifactPath = artifactPath
        self.artifactDigest = artifactDigest
        self.metrics = metrics
        self.steps = steps
    }
}

/// A Deployment to bring to a version.
public struct DeployRequest: Sendable {
    public var deployment: Entry<DeploymentSpec>
    public var version: VersionRecord
    public var revision: Revision
    public var current: DeploymentRecord?
    public var specDigest: String
    /// Where the version is published, when the Deployment serves it from a
    /// registry (`spec.serve.registry`).
    public var registry: RegistryModel?

    public init(
        deployment: Entry<DeploymentSpec>, version: VersionRecord, revision: Revision,
        current: DeploymentRecord?, specDigest: String, registry: RegistryModel? = nil
    ) {
        self.deployment = deployment
        self.version = version
        self.revision = revision
        self.current = current
        self.specDigest = specDigest
        self.registry = registry
    }
}

/// A version as an MLflow registry holds it, for a server that loads it from
/// there.
public struct RegistryModel: Sendable, Hashable, Codable {
    /// `models:/churn/3`: the exact MLflow version, never an alias, so what
    /// runs is what Git pins even if someone moves an alias.
    public var uri: String
    /// MLFLOW_TRACKING_URI and the registry's credentials, for the server.
    public var environment: [String: String]

    public init(uri: String, environment: [String: String]) {
        self.uri = uri
        self.environment = environment
    }
}

public struct DriverError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What a driver is built from: the Target's name and spec as Git declares
/// them, the controller's workspace, and read access to the versions (a
/// driver never writes the state store: it returns what to record).
public struct DriverContext: Sendable {
    public var name: String
    public var spec: TargetSpec
    public var workspace: Workspace
    public var versions: any VersionCatalog

    public init(name: String, spec: TargetSpec, workspace: Workspace, versions: any VersionCatalog) {
        self.name = name
        self.spec = spec
        self.workspace = workspace
        self.versions = versions
    }

    /// `spec.credentials[key]` read now, nil when the Target does not set
    /// it. An unreadable one is an error naming the target, the key and the
    /// reference (never the secret): every driver reports it the same way.
    public func credential(_ key: String) throws -> String? {
        guard let reference = spec.credentials?[key] else { return nil }
        do { return try reference.read() } catch {
            throw DriverError("target \(name): credentials.\(key) (\(reference.redacted)): \(error)")
        }
    }
}

/// Builds the driver for a target; `Drivers.make` in a controller, a fake in
/// tests.
public typealias DriverFactory = @Sendable (DriverContext) throws -> any TargetDriver

/// A launch the reconciler's journal recorded before handing it to a
/// driver. The driver says what it started (`started`), so that a
/// controller killed while it runs can adopt it or clean it up; an
/// earlier controller's record comes back as `adopted`.
public struct Launch: Sendable {
    /// `train:churn:<digest>`, `deploy:churn-prod:3`.
    public var key: String
    /// What the driver recorded for this launch in an earlier, interrupted
    /// attempt; nil for a fresh launch.
    public var adopted: String?
    let record: @Sendable (String) throws -> Void

    public init(key: String, adopted: String?, record: @escaping @Sendable (String) throws -> Void) {
        self.key = key
        self.adopted = adopted
        self.record = record
    }

    /// Records `detail` (JSON naming the run, process or job) before the
    /// driver waits for it.
    public func started(_ detail: String) throws { try record(detail) }

    /// A launch whose progress is kept nowhere (a reproduction, a test).
    public static func untracked(_ key: String) -> Launch { Launch(key: key, adopted: nil, record: { _ in }) }
}

/// A launch left open by a controller that stopped while it ran, and that
/// the current plan does not adopt.
public struct OpenLaunch: Sendable {
    public var key: String
    public var kind: LaunchKind
    public var object: String
    /// What the driver recorded with `Launch.started`, or "".
    public var detail: String
    /// The Deployment's record now, for a deploy.
    public var current: DeploymentRecord?

    public init(key: String, kind: LaunchKind, object: String, detail: String, current: DeploymentRecord?) {
        self.key = key
        self.kind = kind
        self.object = object
        self.detail = detail
        self.current = current
    }
}

/// What recovery made of an open launch.
public enum Recovery: Sendable, Equatable {
    /// Still running; the launch stays open and a later plan adopts it.
    case stillRunning
    /// Cleaned up (what it started is stopped, or was never started).
    case cleanedUp(String)
}

/// A target that can publish versions to a model registry, where other
/// targets' servers load them from (`spec.serve.registry`).
public protocol ModelRegistry: Sendable {
    /// Publishes `version` (and what it needs) and returns where a server
    /// loads it from.
    func published(_ version: VersionRecord) async throws -> RegistryModel
}

/// One kind of target: observes what runs there and applies actions. Each
/// driver lives in its own folder; adding one is that folder plus one line
/// in `Drivers.make` and in `TargetSpec.TargetType.capabilities`. Drivers return what to
/// record; the reconciler writes the state store.
public protocol TargetDriver: Sendable {
    /// What runs for `record` now. Never throws: a peer that cannot be
    /// reached is an observation ("serving: false, detail: connection
    /// refused"), and must come back within a few seconds.
    func observe(_ record: DeploymentRecord, spec: DeploymentSpec?) async -> ObservedDeployment
    /// Trains and waits for the outcome. A launch interrupted earlier
    /// (`launch.adopted`) is adopted, never started twice.
    func train(_ request: TrainingRequest, launch: Launch) async throws -> TrainingOutcome
    /// Brings the deployment to the request's version and returns the record
    /// to keep; `detail` holds what the driver needs to find it again.
    func deploy(_ request: DeployRequest, launch: Launch) async throws -> DeploymentRecord
    func stop(_ record: DeploymentRecord) async throws
    /// Removes what served `previous` and no longer does, once the record
    /// that replaces it is kept (a crash in between leaves the record naming
    /// what exists); the default has nothing to remove.
    func retire(_ previous: DeploymentRecord, replacedBy record: DeploymentRecord) async
    /// Cleans up after a launch a stopped controller left open and no plan
    /// adopts; the default has nothing to clean up.
    func recover(_ launch: OpenLaunch) async -> Recovery
}

/// A target that splits one address's requests between the version that
/// serves and a new one by weight, and reads what each answered: what a
/// canary needs (``TargetSpec/Capability/splitTraffic``).
public protocol TrafficSplitting: TargetDriver {
    /// Starts the request's version next to the one `request.current`
    /// names, healthy but taking no requests, and returns the record it will
    /// have once it takes them all.
    func startCanary(_ request: DeployRequest, launch: Launch) async throws -> DeploymentRecord
    /// Sends `percent` of new requests to `canary` and the rest to `stable`;
    /// returns once the split is in force.
    func split(_ canary: DeploymentRecord, stable: DeploymentRecord, percent: Int) async throws
    /// What the canary's requests have shown since it started (counts only
    /// grow; a window is the difference of two readings).
    func readings(_ canary: DeploymentRecord) async -> BackendStats?
    /// What runs for the canary now (its servers, their health); it takes
    /// only its share of the address, so `forwarding` may be false.
    func observe(canary: DeploymentRecord, spec: DeploymentSpec?) async -> ObservedDeployment
    /// Every request to `stable` again; the canary stops once its in-flight
    /// requests finish.
    func abandon(_ canary: DeploymentRecord, stable: DeploymentRecord) async
    /// The canary's own Prometheus metrics at `path`, each metric's samples
    /// summed over labels and replicas.
    func modelMetrics(_ canary: DeploymentRecord, path: String) async throws -> [String: Double]
    /// After the canary took every request: makes it what the target
    /// serves (where the target keeps a record of its own), so that it
    /// observes as live; `stable` keeps running until `finish`.
    func commit(_ canary: DeploymentRecord) async throws
    /// After `commit`: `stable` drains and stops.
    func finish(_ canary: DeploymentRecord, replacing stable: DeploymentRecord) async
    /// How requests to what `record` serves are split now, with what each
    /// backend answered since the split's forwarder started; nil when it
    /// cannot be read.
    func traffic(_ record: DeploymentRecord) async -> [TrafficShare]?
}

/// Sums of the samples of each metric in Prometheus text exposition format
/// (`name{labels} value [timestamp]`), comments and malformed lines skipped.
public enum PrometheusSamples {
    public static func sums(_ text: String) -> [String: Double] {
        var sums: [String: Double] = [:]
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.drop { $0 == " " || $0 == "\t" }
            guard let first = line.first, first != "#" else { continue }
            let name = line.prefix { $0 != "{" && $0 != " " && $0 != "\t" }
            var rest = line.dropFirst(name.count)
            if rest.first == "{" {
                guard let close = rest.lastIndex(of: "}") else { continue }
                rest = rest[rest.index(after: close)...]
            }
            guard !name.isEmpty, let token = rest.split(whereSeparator: { $0 == " " || $0 == "\t" }).first,
                let value = Double(token), value.isFinite
            else { continue }
            sums[String(name), default: 0] += value
        }
        return sums
    }
}

/// One backend of a split: its weight, the version it serves when the
/// record names it (nil: a canary's new version), and its counts.
public struct TrafficShare: Sendable, Codable, Hashable {
    public var backend: String
    public var percent: Double
    public var version: Int?
    public var requests: Int
    public var failures: Int
    /// Upper bound of the 99th-percentile latency, in seconds; nil without requests.
    public var p99: Double?

    public init(backend: String, percent: Double, version: Int?, stats: BackendStats) {
        self.backend = backend
        self.percent = percent
        self.version = version
        self.requests = stats.requests
        self.failures = stats.failures
        self.p99 = stats.quantile(0.99).map { $0.isFinite ? $0 : BackendStats.bounds.last! * 10 }
    }
}

extension TargetDriver {
    public func retire(_ previous: DeploymentRecord, replacedBy record: DeploymentRecord) async {}

    public func recover(_ launch: OpenLaunch) async -> Recovery {
        .cleanedUp("closed an interrupted \(launch.kind == .train ? "training" : "rollout") of \(launch.object)")
    }
}

/// The drivers this build has, by target type.
public enum Drivers {
    /// What each type's driver can do (``TargetSpec/TargetType/capabilities``,
    /// which validation reads too); plans warn instead of acting when a
    /// Model trains on, or a Deployment serves from, a type that cannot.
    public static func supports(_ type: TargetSpec.TargetType, _ capability: TargetSpec.Capability) -> Bool {
        type.capabilities.contains(capability)
    }

    /// The driver for a target. Throws when the target is declared but
    /// unusable (no endpoint, a credential that cannot be read), with the
    /// reason.
    public static func make(_ context: DriverContext) throws -> any TargetDriver {
        switch context.spec.type {
        case .local: return LocalTarget(workspace: context.workspace)
        case .agent: return try AgentTarget(context)
        case .mlflow: return try MLflowTarget(context)
        case .ray: return try RayTarget(context)
        case .sagemaker: return try SageMakerTarget(context)
        }
    }

    /// The driver for the target `name` in `manifests` (`local` needs no
    /// manifest), built by `factory`.
    public static func make(
        target name: String, in manifests: ManifestSet, workspace: Workspace, versions: any VersionCatalog,
        factory: DriverFactory = Drivers.make
    ) throws -> any TargetDriver {
        guard let spec = manifests.targets[name]?.spec ?? (name == ManifestSet.implicitLocalTarget ? TargetSpec(type: .local) : nil) else {
            throw DriverError("no Target named \(name)")
        }
        return try factory(DriverContext(name: name, spec: spec, workspace: workspace, versions: versions))
    }
}
