import Foundation
import Lineage
import Manifests
import S3
import State

/// Serving on a SageMaker endpoint named after the Deployment. Each version
/// gets its own model and endpoint config (same name); the endpoint is
/// created, or updated to the new config, and the driver waits until it is
/// InService with that config. Only then are the previous model and config
/// deleted.
extension SageMakerTarget {
    /// Endpoint states that change by themselves; a deploy waits them out.
    static let settling: Set<String> = ["Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"]

    public func deploy(_ request: DeployRequest, launch: Launch) async throws -> DeploymentRecord {
        let pair = try await makePair(request)
        let endpoint = pair.handles.endpoint
        let serving: EndpointDescription
        do {
            serving = try await move(endpoint, to: pair.handles.endpointConfig, timeout: pair.timeout, deadline: pair.deadline)
        } catch {
            await discard(pair.handles.endpointConfig, unlessUsedBy: endpoint, keeping: request.current.flatMap(Self.handles))
            throw error
        }
        return record(request, pair.handles, address: serving.EndpointArn ?? endpoint)
    }

    /// A version's model and its one-variant endpoint config, made (or found
    /// made by an earlier try), with what a deploy of them waits for.
    struct Pair {
        var handles: Handles
        var replicas: Int
        var instanceType: String
        var timeout: TimeSpan
        var deadline: ContinuousClock.Instant
    }

    func makePair(_ request: DeployRequest) async throws -> Pair {
        let deployment = request.deployment.name
        let serve = request.deployment.spec.serve
        let version = request.version
        let role = try required(spec.roleArn, "roleArn", for: "serve")
        guard let image = serve.image else {
            throw DriverError("deployment \(deployment) needs spec.serve.image (the inference image SageMaker runs) on target \(name)")
        }
        let environment = try containerEnvironment(serve, deployment: deployment)
        let replicas = request.deployment.spec.targets.first { $0.target == name }?.replicas ?? 1
        let instanceType = spec.instanceType ?? Self.defaultInstanceType
        let modelData = try await stageArtifact(version)

        struct Inputs: Encodable {
            var spec: String, image: String, modelData: String, role: String, instanceType: String, replicas: Int
            var environment: [String: String]?
        }
        let inputs = Digest.canonicalJSON(
            Inputs(
                spec: request.specDigest, image: image, modelData: modelData, role: role,
                instanceType: instanceType, replicas: replicas, environment: environment))
        let resource = SageMakerNames.modelAndConfig(deployment: deployment, version: version.number, inputs: inputs)
        let handles = Handles(
            endpoint: SageMakerNames.endpoint(deployment: deployment), endpointConfig: resource, model: resource, modelData: modelData)

        try await create(
            "CreateModel",
            CreateModel(
                ModelName: resource,
                PrimaryContainer: .init(Image: image, ModelDataUrl: modelData, Environment: environment),
                ExecutionRoleArn: role))
        try await create(
            "CreateEndpointConfig",
            CreateEndpointConfig(
                EndpointConfigName: resource,
                ProductionVariants: [.init(ModelName: resource, InstanceType: instanceType, InitialInstanceCount: replicas)]))
        let timeout = request.deployment.spec.healthCheck?.timeout ?? Self.defaultServingTimeout
        return Pair(
            handles: handles, replicas: replicas, instanceType: instanceType, timeout: timeout,
            deadline: ContinuousClock.now + .milliseconds(Int64(timeout.seconds * 1000)))
    }

    func record(_ request: DeployRequest, _ handles: Handles, address: String) -> DeploymentRecord {
        DeploymentRecord(
            name: request.deployment.name, model: request.version.model, version: request.version.number, target: name,
            address: address, specDigest: request.specDigest,
            commit: request.revision.commit.id.hex, updatedAt: Date(),
            detail: Digest.canonicalJSON(handles))
    }

    /// The endpoint no longer uses the previous pair, and the new record is
    /// kept: the pair is deleted. Failing to delete it leaves a config that
    /// costs nothing; the deploy stands.
    public func retire(_ previous: DeploymentRecord, replacedBy record: DeploymentRecord) async {
        guard let old = Self.handles(previous), old.model != Self.handles(record)?.model else { return }
        try? await delete("DeleteEndpointConfig", .endpointConfig(old.endpointConfig))
        try? await delete("DeleteModel", .model(old.model))
    }

    /// Deletes the model and config made for a deploy that failed, so that
    /// no resource is left that no record names (and `destroy` would not
    /// find). Kept when the endpoint uses them after all (an update still
    /// under way at the deadline) or when the previous record names them.
    /// `withModel: false` for a config that has no model of its name (a
    /// canary's split config).
    func discard(_ resource: String, unlessUsedBy endpoint: String, keeping previous: Handles?, withModel: Bool = true) async {
        guard previous?.model != resource else { return }
        let seen: EndpointDescription?
        do { seen = try await describeEndpoint(endpoint) } catch { return }  // cannot tell: keep them
        if seen?.EndpointConfigName == resource { return }
        // An update still under way may be moving to this pair (SageMaker
        // shows it as pending, not yet as the endpoint's config).
        if let status = seen?.EndpointStatus, Self.settling.contains(status) { return }
        try? await delete("DeleteEndpointConfig", .endpointConfig(resource))
        if withModel { try? await delete("DeleteModel", .model(resource)) }
    }

    /// Literal environment values for the container. A secret is refused:
    /// SageMaker shows a model's environment to anyone who may describe it.
    func containerEnvironment(_ serve: Serve, deployment: String) throws -> [String: String]? {
        guard let env = serve.env, !env.isEmpty else { return nil }
        return try env.mapValues { value in
            guard case .literal(let text) = value else {
                throw DriverError(
                    "deployment \(deployment): spec.serve.env holds a secret reference, which a SageMaker model would show to anyone who can describe it; give the container its secret through its execution role instead"
                )
            }
            return text
        }
    }

    /// Points the endpoint at `config` and waits until it is InService with
    /// it, by `deadline` (by default `timeout` from now).
    @discardableResult
    func move(
        _ endpoint: String, to config: String, timeout: TimeSpan = Self.defaultServingTimeout,
        deadline: ContinuousClock.Instant? = nil
    ) async throws -> EndpointDescription {
        let deadline = deadline ?? ContinuousClock.now + .milliseconds(Int64(timeout.seconds * 1000))
        try await point(endpoint, at: config, deadline: deadline, timeout: timeout)
        return try await waitInService(endpoint, config: config, deadline: deadline, timeout: timeout)
    }

    /// Makes the endpoint use `config`: creates it when missing, replaces it
    /// when Failed (SageMaker updates no failed endpoint), updates it when it
    /// uses another config. A change in progress is waited out first.
    func point(_ endpoint: String, at config: String, deadline: ContinuousClock.Instant, timeout: TimeSpan) async throws {
        var current = try await describeEndpoint(endpoint)
        var polls = 0
        while let seen = current, Self.settling.contains(seen.EndpointStatus) {
            if seen.EndpointStatus != "Deleting", seen.EndpointConfigName == config { return }
            guard ContinuousClock.now < deadline else {
                throw DriverError("endpoint \(endpoint) stayed \(seen.EndpointStatus) for \(timeout)")
            }
            try await pause(polls, until: deadline)
            polls += 1
            current = try await describeEndpoint(endpoint)
        }
        let body = EndpointAndConfig(EndpointName: endpoint, EndpointConfigName: config)
        switch current {
        case nil:
            try await create("CreateEndpoint", body)
        case let seen? where seen.EndpointStatus == "Failed":
            try await delete("DeleteEndpoint", .endpoint(endpoint))
            while try await describeEndpoint(endpoint) != nil {
                guard ContinuousClock.now < deadline else { throw DriverError("failed endpoint \(endpoint) was not deleted within \(timeout)") }
                try await pause(polls, until: deadline)
                polls += 1
            }
            try await create("CreateEndpoint", body)
        case let seen? where seen.EndpointConfigName == config:
            return
        default:
            // Not repeated after an answer that may have come from
            // SageMaker: a second UpdateEndpoint during the update fails.
            try await api.perform("UpdateEndpoint", body, idempotent: false)
        }
    }

    /// Polls until the endpoint is InService with `config`. An update that
    /// SageMaker rolled back shows as InService with the old config and a
    /// FailureReason.
    func waitInService(
        _ endpoint: String, config: String, deadline: ContinuousClock.Instant,
        timeout: TimeSpan
    ) async throws -> EndpointDescription {
        var polls = 0
        var last = "not described yet"
        while true {
            guard let seen = try await describeEndpoint(endpoint) else {
                throw DriverError("endpoint \(endpoint) disappeared while it was being deployed")
            }
            let reason = seen.FailureReason.flatMap { $0.isEmpty ? nil : $0 }
            let ours = seen.EndpointConfigName == config
            switch seen.EndpointStatus {
            case "InService" where ours:
                return seen
            case "Failed", "UpdateRollbackFailed", "OutOfService":
                throw DriverError("endpoint \(endpoint) is \(seen.EndpointStatus): \(reason ?? "SageMaker gives no reason")")
            case "InService" where reason != nil:
                throw DriverError("endpoint \(endpoint) rolled back to \(seen.EndpointConfigName ?? "its previous config"): \(reason!)")
            default:
                last = "\(seen.EndpointStatus) with \(seen.EndpointConfigName ?? "no config")"
            }
            guard ContinuousClock.now < deadline else {
                throw DriverError("endpoint \(endpoint) was not InService with \(config) within \(timeout) (last: \(last))")
            }
            try await pause(polls, until: deadline)
            polls += 1
        }
    }

    /// Creates a resource of a deterministic name; one that exists already
    /// (an earlier try of the same call) is what was wanted.
    func create(_ action: String, _ body: some Encodable) async throws {
        do {
            try await api.perform(action, body, idempotent: true)
        } catch let error as SageMakerError where error.isAlreadyExisting {
            return
        }
    }

    /// The version's artifact as an S3 URI. One trained elsewhere (a local
    /// file) is uploaded once to `gantry/artifacts/<digest>/<file>` in the
    /// target's bucket; a key that exists already holds the same bytes.
    func stageArtifact(_ version: VersionRecord) async throws -> String {
        if version.artifactPath.hasPrefix("s3://") { return version.artifactPath }
        let bucketName = try required(spec.bucket, "bucket", for: "serve a locally trained artifact")
        let path = version.artifactPath
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DriverError("the artifact of \(version.model)@v\(version.number) (\(path)) is not on this machine to upload")
        }
        guard !isDirectory.boolValue else {
            throw DriverError("the artifact of \(version.model)@v\(version.number) is a directory (\(path)); SageMaker loads one file, such as a model.tar.gz")
        }
        let key = "gantry/artifacts/\(SageMakerNames.hex(version.artifactDigest))/\((path as NSString).lastPathComponent)"
        let uri = "s3://\(bucketName)/\(key)"
        do {
            let s3 = try bucket(bucketName)
            if try await s3.etagIfPresent(of: key) == nil {
                guard let bytes = FileManager.default.contents(atPath: path) else { throw DriverError("cannot read \(path)") }
                try await s3.put(key: key, body: Array(bytes))
            }
        } catch let failure as S3Bucket.Failure {
            throw DriverError("uploading the artifact of \(version.model)@v\(version.number) to \(uri): \(failure)")
        }
        return uri
    }
}
