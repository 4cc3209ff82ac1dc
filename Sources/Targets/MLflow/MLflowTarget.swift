import Foundation
import HTTP
import Lineage
import Manifests
import State

/// An MLflow Model Registry as a serving target: Gantry publishes every
/// version of a model there, with its lineage as tags, and points an alias
/// at the version Git pins. Whoever loads `models:/churn@churn-prod` gets
/// what Git says; an alias moved by hand is drift, moved back on apply.
///
///     kind: Target
///     metadata: { name: registry }
///     spec:
///       type: mlflow
///       endpoint: http://mlflow.internal:5000
///       credentials: { token: { env: MLFLOW_TRACKING_TOKEN } }
///       capabilities: [serve]
///
/// Registration is idempotent: a version is found again by its
/// `gantry.version` and `gantry.lineage` tags (and its run by its model and
/// lineage tags) before anything is created, so a retry after a crash never
/// makes a duplicate. Training is not something a registry does.
public struct MLflowTarget: TargetDriver, ModelRegistry {
    /// The experiment that holds the runs versions are registered from.
    static let experiment = "gantry"

    let name: String
    let endpoint: String
    let versions: any VersionCatalog
    /// What a server loading a model from this registry needs in its
    /// environment: the tracking URI and credentials, as MLflow's client
    /// reads them.
    let serverEnvironment: [String: String]
    /// For deploys and stops: patient, as uploads can be large.
    let registry: MLflowRegistry
    /// For observations, which must come back within a few seconds.
    let observer: MLflowRegistry

    /// Reads the target's credentials now: `token` (bearer) or `username`
    /// and `password` (basic), as MLflow's own clients send them.
    public init(_ context: DriverContext) throws {
        let spec = context.spec
        guard let endpoint = spec.endpoint, !endpoint.isEmpty else {
            throw DriverError("Target \(context.name) (mlflow) needs spec.endpoint: the MLflow tracking server's URL, such as http://127.0.0.1:5000")
        }
        let auth: HTTPAuth
        var environment = ["MLFLOW_TRACKING_URI": endpoint]
        if let token = try context.credential("token") {
            auth = .bearer(token)
            environment["MLFLOW_TRACKING_TOKEN"] = token
        } else if let user = try context.credential("username"), let password = try context.credential("password") {
            auth = .basic(user: user, password: password)
            environment["MLFLOW_TRACKING_USERNAME"] = user
            environment["MLFLOW_TRACKING_PASSWORD"] = password
        } else {
            auth = .none
        }
        serverEnvironment = environment
        self.name = context.name
        self.endpoint = HTTPError.redact(endpoint)
        self.versions = context.versions
        registry = MLflowRegistry(client: RESTClient(baseURL: endpoint, auth: auth, timeout: .seconds(120)))
        observer = MLflowRegistry(
            client: RESTClient(
                baseURL: endpoint, auth: auth, retry: RetryPolicy(attempts: 2, initialDelay: .milliseconds(200), maxDelay: .seconds(1)),
                timeout: .seconds(5), connectTimeout: .seconds(2)))
    }

    /// What a DeploymentRecord keeps to find the alias again.
    struct Handle: Codable, Hashable {
        var registeredModel: String
        var alias: String
        /// The MLflow version number the alias was pointed at.
        var mlflowVersion: String
    }

    static func handle(_ record: DeploymentRecord) -> Handle? {
        try? JSONDecoder().decode(Handle.self, from: Data(record.detail.utf8))
    }

    public func train(_ request: TrainingRequest, launch: Launch) async throws -> TrainingOutcome {
        throw DriverError(
            "target \(name) is an MLflow Model Registry: versions are published and aliased there, not trained; "
                + "train Model \(request.model.name) on a local, agent or ray target and deploy it to \(name)")
    }

    // MARK: - Observe

    public func observe(_ record: DeploymentRecord, spec: DeploymentSpec?) async -> ObservedDeployment {
        let handle =
            Self.handle(record)
            ?? Handle(registeredModel: record.model, alias: spec?.serve.alias ?? record.name, mlflowVersion: "")
        func seen(_ serving: Bool, _ forwarding: Bool, _ healthy: Bool?, _ detail: String) -> ObservedDeployment {
            ObservedDeployment(name: record.name, serving: serving, forwarding: forwarding, healthy: healthy, detail: detail)
        }
        let target: MLflowRegistry.AliasTarget
        do {
            target = try await observer.alias(handle.alias, of: handle.registeredModel)
        } catch {
            return seen(false, false, nil, "MLflow registry at \(endpoint) could not be read: \(error)")
        }
        switch target {
        case .noRegisteredModel:
            return seen(false, false, nil, "registered model \(handle.registeredModel) does not exist at \(endpoint)")
        case .noAlias:
            return seen(false, false, nil, "alias \(handle.alias) is not set on registered model \(handle.registeredModel)")
        case .version(let version):
            let gantry = version.tag(PublishedVersion.versionTag)
            let points =
                "alias \(handle.alias) points at MLflow version \(version.version) ("
                + (gantry.map { "gantry v\($0)" } ?? "not published by Gantry") + ")"
            let expected = try? versions.version(record.model, record.version)?.digest
            let ours =
                gantry == "\(record.version)"
                && (expected == nil || version.tag(PublishedVersion.lineageTag) == expected)
            guard ours else {
                return seen(true, false, nil, "\(points); Git pins v\(spec?.version ?? record.version) (moved outside Gantry)")
            }
            let status = version.status ?? "READY"
            guard status == "READY" else {
                return seen(true, true, false, "\(points), which is \(status)" + (version.statusMessage.map { ": \($0)" } ?? ""))
            }
            return seen(true, true, true, points)
        }
    }

    // MARK: - Deploy and stop

    public func deploy(_ request: DeployRequest, launch: Launch) async throws -> DeploymentRecord {
        let deployment = request.deployment.name
        // Validation has checked the alias against MLflow's rules.
        let alias = request.deployment.spec.serve.alias ?? deployment
        let model = request.version.model
        let target = try await publish(request.version)
        try await registry.setAlias(alias, of: model, to: target)
        let handle = Handle(registeredModel: model, alias: alias, mlflowVersion: target)
        if let current = request.current, let old = Self.handle(current),
            old.registeredModel != model || old.alias != alias
        {
            // The Deployment now names another alias or model; the old alias
            // would go on pointing at a version nobody manages.
            try await registry.deleteAlias(old.alias, of: old.registeredModel)
        }
        let record = DeploymentRecord(
            name: deployment, model: model, version: request.version.number, target: name,
            address: "models:/\(model)@\(alias)", specDigest: request.specDigest,
            commit: request.revision.commit.id.hex, updatedAt: Date(),
            detail: Digest.canonicalJSON(handle))
        return record
    }

    /// Removes the alias. The versions stay: they are the model's history.
    public func stop(_ record: DeploymentRecord) async throws {
        let handle = Self.handle(record) ?? Handle(registeredModel: record.model, alias: record.name, mlflowVersion: "")
        try await registry.deleteAlias(handle.alias, of: handle.registeredModel)
    }

    // MARK: - Publishing

    /// Publishes `version` (with any earlier versions the registry lacks)
    /// and returns where a server loads it from: `models:/<model>/<number>`.
    public func published(_ version: VersionRecord) async throws -> RegistryModel {
        RegistryModel(uri: "models:/\(version.model)/\(try await publish(version))", environment: serverEnvironment)
    }

    /// The MLflow version number that holds `version`, published if needed.
    func publish(_ version: VersionRecord) async throws -> String {
        try await registry.ensureRegisteredModel(version.model)
        let published = try await publishVersions(of: version.model)
        guard let number = published[version.number] else {
            throw DriverError("\(version.model)@v\(version.number) is not in Gantry's state, so it cannot be published to \(endpoint)")
        }
        return number
    }

    /// Publishes every Gantry version of `model` the registry lacks, oldest
    /// first, and returns the MLflow version number of each Gantry number.
    func publishVersions(of model: String) async throws -> [Int: String] {
        // A version whose registration failed holds nothing to load; it is
        // registered again rather than aliased.
        let existing = try await registry.versions(of: model).filter { $0.status != "FAILED_REGISTRATION" }
        var experiment: String?
        var numbers: [Int: String] = [:]
        for record in try versions.versions(of: model).sorted(by: { $0.number < $1.number }) {
            let version = PublishedVersion(record)
            if let found = existing.first(where: version.isPublished) {
                numbers[record.number] = found.version
                continue
            }
            if let clash = existing.first(where: { $0.tag(PublishedVersion.versionTag) == "\(record.number)" }) {
                throw DriverError(
                    "MLflow version \(clash.version) of \(model) at \(endpoint) is tagged gantry v\(record.number) with lineage "
                        + "\(clash.tag(PublishedVersion.lineageTag) ?? "none"), but this Gantry's v\(record.number) is \(record.digest): "
                        + "another Gantry state directory publishes to the same registered model")
            }
            if experiment == nil { experiment = try await registry.experimentID(named: Self.experiment) }
            numbers[record.number] = try await register(version, experiment: experiment!)
        }
        return numbers
    }

    /// A run holding the version's params, metrics and artifact, then a model
    /// version made from it. The run is found again by its tags, so a retry
    /// after a crash between the two reuses it.
    func register(_ version: PublishedVersion, experiment: String) async throws -> String {
        let record = version.record
        let run: MLflowAPI.Run
        if let found = try await registry.runs(in: experiment, tagged: version.runIdentity).first {
            run = found
        } else {
            run = try await registry.createRun(
                in: experiment, name: version.runName,
                startTime: Int64(record.createdAt.timeIntervalSince1970 * 1000), tags: version.runTags)
        }
        let runID = run.info.runID
        let params = Set(run.data?.params?.map(\.key) ?? [])
        let metrics = Set(run.data?.metrics?.map(\.key) ?? [])
        try await registry.log(
            run: runID, params: version.params.filter { !params.contains($0.key) },
            metrics: version.metrics.filter { !metrics.contains($0.key) })
        for (file, path) in try version.artifactFiles() {
            try await registry.upload(file, to: path, artifactURI: run.info.artifactURI)
        }
        if run.info.status != "FINISHED" {
            try await registry.finish(run: runID, endTime: Int64(Date().timeIntervalSince1970 * 1000))
        }
        var created = try await registry.createVersion(
            MLflowRegistry.NewVersion(
                name: record.model, source: "runs:/\(runID)/model", runID: runID, tags: version.versionTags, description: version.description))
        let deadline = ContinuousClock.now + .seconds(60)
        while created.status == "PENDING_REGISTRATION", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            created = try await registry.version(created.version, of: record.model)
        }
        guard created.status == nil || created.status == "READY" else {
            throw DriverError(
                "MLflow version \(created.version) of \(record.model) (gantry v\(record.number)) is \(created.status ?? "?")"
                    + (created.statusMessage.map { ": \($0)" } ?? ""))
        }
        return created.version
    }
}
