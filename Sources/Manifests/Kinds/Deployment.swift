import YAML

/// A model pinned to a version, served on targets behind a stable address.
///
///     kind: Deployment
///     metadata: { name: churn-prod }
///     spec:
///       model: churn
///       version: 1
///       address: 127.0.0.1:8700
///       serve:
///         command: [python3, serve.py, --model, "${artifact}", --port, "${port}"]
///       targets: [{ target: local }]
///       healthCheck: { path: /health, timeout: 30s }
public struct DeploymentSpec: Sendable, Hashable, Codable {
    public var model: String
    /// The pinned version number; changing it in Git is how a version ships.
    public var version: Int
    /// The host:port users call; it never changes between versions.
    public var address: String?
    public var serve: Serve
    public var targets: [Placement]
    public var healthCheck: HealthCheck?
    public var strategy: Strategy?
    /// When a rollout fails (a target does not take the version, or does
    /// not report it live and healthy), put every target it moved back on
    /// the version it served, and hold the failed version until Git changes.
    public var autoRollback: Bool?
    /// A later stage: the version comes from another Deployment once it has
    /// served there for the soak, by a commit. A model's auto-promotion
    /// leaves such a Deployment alone.
    public var promotion: StagePromotion?

    /// The spec as one target sees it: that target alone, with its own
    /// address. Drivers get this spec, and its serve digest is what that
    /// target's record is compared with.
    public func placed(on target: String) -> DeploymentSpec {
        var one = self
        let placement = targets.first { $0.target == target } ?? Placement(target: target)
        one.targets = [placement]
        if let address = placement.address { one.address = address }
        return one
    }

    /// The targets in the order a rollout moves them: one wave of every
    /// target for `all-at-once`, the listed waves for `waves`.
    public var waves: [[String]] {
        if strategy?.type == .waves, let waves = strategy?.waves { return waves.filter { !$0.isEmpty } }
        return [targets.map(\.target)]
    }
}

/// Gates on what a model server reports about itself in the Prometheus
/// text format, such as `prediction_errors_total <= 3`: a metric's samples
/// are summed over their labels and over the version's replicas.
public struct ModelMetricsGate: Sendable, Hashable, Codable {
    /// Default `/metrics`.
    public var path: String?
    public var gates: [String]

    public init(path: String? = nil, gates: [String]) {
        self.path = path
        self.gates = gates
    }
}

/// Where a later stage's version comes from: `from` (a Deployment of the
/// same model) must have served it on every target, healthy, for `soak`,
/// and the version must pass `gates`; then Gantry pins it here by a commit
/// (onto the followed branch when the model's promotion policy is `auto`,
/// on a `gantry/<deployment>-v<N>` branch for review otherwise).
public struct StagePromotion: Sendable, Hashable, Codable {
    public var from: String
    /// How long `from` must have served the version first (default 0).
    public var soak: TimeSpan?
    /// Conditions on the version's metrics, such as `accuracy >= 0.9`.
    public var gates: [String]?

    public init(from: String, soak: TimeSpan? = nil, gates: [String]? = nil) {
        self.from = from
        self.soak = soak
        self.gates = gates
    }
}

/// How a version is served. Which fields apply depends on the target's
/// type: `command` or `registry` on `local` and `agent` targets, `importPath`
/// on `ray`, `image` on `sagemaker`; an `mlflow` target moves the registry
/// alias named `alias` (the Deployment's name when omitted).
public struct Serve: Sendable, Hashable, Codable {
    /// May use `${artifact}`, `${port}`, `${host}`, `${version}`, `${model}`,
    /// and with `registry`, `${registry.uri}`.
    public var command: Command?
    /// `local`, `agent`: an `mlflow` Target to serve the pinned version from.
    /// The version is published there first, and the server loads it as
    /// `models:/<model>/<MLflow version>` with MLFLOW_TRACKING_URI (and the
    /// target's credentials) in its environment; `command` defaults to
    /// ``Serve/registryCommand``.
    public var registry: String?
    /// `ray`: the Serve application's `module:attribute`.
    public var importPath: String?
    /// `sagemaker`: the inference container image.
    public var image: String?
    /// `mlflow`: the registered model's alias that points at the pinned version.
    public var alias: String?
    public var workingDir: String?
    public var env: [String: EnvValue]?

    /// What serves a version from a registry when `command` is not given:
    /// MLflow's own scoring server, in the environment it runs in.
    public static let registryCommand = Command([
        "mlflow", "models", "serve", "-m", "${registry.uri}", "--env-manager", "local", "-h", "${host}", "-p", "${port}",
    ])

    /// The command to run on a `local` or `agent` target.
    public var effectiveCommand: Command? { command ?? (registry != nil ? Self.registryCommand : nil) }
}

public struct Placement: Sendable, Hashable, Codable {
    public var target: String
    public var replicas: Int?
    /// `local`, `agent`: the stable address on this target, instead of the
    /// Deployment's `address` (two targets on one machine need two).
    public var address: String?

    public init(target: String, replicas: Int? = nil, address: String? = nil) {
        self.target = target
        self.replicas = replicas
        self.address = address
    }
}

public struct HealthCheck: Sendable, Hashable, Codable {
    public var path: String?
    public var timeout: TimeSpan?
    public var interval: TimeSpan?
}

public struct Strategy: Sendable, Hashable, Codable {
    public enum StrategyType: String, StringEnum, Codable {
        case allAtOnce = "all-at-once", waves, canary
    }

    /// What `autoRollback` does after a failed rollout: put every moved
    /// target back (the default), or leave each where it is.
    public enum FailureAction: String, StringEnum, Codable {
        case rollback, freeze
    }

    public var type: StrategyType
    /// Canary: traffic percentages in order, such as [10, 50, 100].
    public var steps: [Int]?
    /// Waves: target names per wave.
    public var waves: [[String]]?
    /// How long each step or wave must stay healthy before it is judged
    /// and the next starts.
    public var pause: TimeSpan?
    /// Canary and waves: what the new version must show at the end of each
    /// step or wave (the forwarder's own readings, its metrics, a command).
    public var analysis: Analysis?
    /// With `autoRollback`: `rollback` (default) or `freeze`.
    public var onFailure: FailureAction?

    public init(
        type: StrategyType, steps: [Int]? = nil, waves: [[String]]? = nil, pause: TimeSpan? = nil, analysis: Analysis? = nil,
        onFailure: FailureAction? = nil
    ) {
        self.onFailure = onFailure
        self.type = type
        self.steps = steps
        self.waves = waves
        self.pause = pause
        self.analysis = analysis
    }
}

/// A canary step's gate, judged on the requests the stable-address
/// forwarder sent to the new version during the step.
public struct Analysis: Sendable, Hashable, Codable {
    /// Highest share (0...1) of requests answered 5xx or not at all.
    public var maxErrorRate: Double?
    /// Highest 99th-percentile latency.
    public var maxLatencyP99: TimeSpan?
    /// Requests the new version must have answered before a step is judged
    /// (default 10); a step waits for them up to `maxDuration`.
    public var minRequests: Int?
    /// Longest a step may wait for `minRequests`; default 10 times `pause`
    /// (at least a minute).
    public var maxDuration: TimeSpan?
    /// An evaluation run at the end of each step, from the project's root at
    /// the revision, that must exit 0 (within `pause`, at least a minute).
    /// May use `${address}` (the target's address), `${version}`,
    /// `${percent}`, `${model}`, `${target}` and `${wave}`; in waves it runs
    /// once for each target of the wave, with `${percent}` 100.
    public var command: Command?
    /// Gates on the new version's own Prometheus metrics, read from its
    /// server at the end of each step (local targets).
    public var metrics: ModelMetricsGate?

    public init(
        maxErrorRate: Double? = nil, maxLatencyP99: TimeSpan? = nil, minRequests: Int? = nil, maxDuration: TimeSpan? = nil,
        command: Command? = nil, metrics: ModelMetricsGate? = nil
    ) {
        self.maxErrorRate = maxErrorRate
        self.maxLatencyP99 = maxLatencyP99
        self.minRequests = minRequests
        self.maxDuration = maxDuration
        self.command = command
        self.metrics = metrics
    }

    /// Whether the analysis judges requests (an error rate or a latency),
    /// which the forwarder counts over a pause.
    public var readsTraffic: Bool { maxErrorRate != nil || maxLatencyP99 != nil }

    /// The placeholders `command` may use.
    public static let placeholders: Set<String> = ["address", "version", "percent", "model", "target", "wave"]
}
