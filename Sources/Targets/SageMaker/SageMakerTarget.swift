import Foundation
import HTTP
import Lineage
import Manifests
import S3
import State

/// Amazon SageMaker: training jobs, models, endpoint configs and endpoints
/// through the SageMaker JSON API, artifacts in the target's S3 bucket.
///
/// Every resource gets a name derived from what it is for (the lineage
/// digest, the deployment and version), so a repeated call after a crash or
/// a retry adopts what exists instead of making a second one.
///
///     kind: Target
///     metadata: { name: aws }
///     spec:
///       type: sagemaker
///       endpoint: https://api.sagemaker.eu-west-1.amazonaws.com
///       region: eu-west-1
///       credentials: { accessKeyId: { env: AWS_ACCESS_KEY_ID }, secretAccessKey: { env: AWS_SECRET_ACCESS_KEY } }
///       roleArn: arn:aws:iam::123456789012:role/gantry-sagemaker
///       bucket: ml-artifacts
///       image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn-train:3
///       instanceType: ml.m5.large
public struct SageMakerTarget: TargetDriver {
    let name: String
    let spec: TargetSpec
    let api: SageMakerAPI
    /// The same API with short timeouts and fewer tries: an observation
    /// must come back within a few seconds even when SageMaker does not.
    let observing: SageMakerAPI
    let s3Location: S3Location
    /// The first wait between two Describe calls while something settles;
    /// it doubles up to ``longestPoll``.
    var firstPoll: Duration = .seconds(1)
    var longestPoll: Duration = .seconds(15)

    static let defaultInstanceType = "ml.m5.large"
    /// How long a training may run when no pipeline step has a timeout.
    static let defaultTrainingTimeout = TimeSpan(seconds: 24 * 3600)
    /// How long an endpoint may take to come into service when the
    /// Deployment's health check gives no timeout; new instances commonly
    /// take five to ten minutes.
    static let defaultServingTimeout = TimeSpan(seconds: 20 * 60)

    /// Reads the credentials now; a reference that cannot be read makes the
    /// target unusable, with the reason (never the value). `retry` and
    /// `timeout` apply to each SageMaker call.
    public init(_ context: DriverContext, retry: RetryPolicy = .standard, timeout: Duration = .seconds(30)) throws {
        name = context.name
        spec = context.spec
        guard let endpoint = spec.endpoint else { throw DriverError("target \(name): spec.endpoint is required for sagemaker") }
        let region = spec.region ?? "us-east-1"
        let accessKeyRef = spec.credentials?["accessKeyId"]
        let secretRef = spec.credentials?["secretAccessKey"]
        let environment = ProcessInfo.processInfo.environment
        let accessKey: String
        let secret: String
        if accessKeyRef != nil || secretRef != nil {
            guard let key = try context.credential("accessKeyId"), let value = try context.credential("secretAccessKey") else {
                throw DriverError("target \(name): spec.credentials needs both accessKeyId and secretAccessKey")
            }
            (accessKey, secret) = (key, value)
        } else if let key = environment["AWS_ACCESS_KEY_ID"], !key.isEmpty,
            let value = environment["AWS_SECRET_ACCESS_KEY"], !value.isEmpty
        {
            (accessKey, secret) = (key, value)
        } else {
            throw DriverError("target \(name): set spec.credentials.accessKeyId and .secretAccessKey, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        api = SageMakerAPI(
            endpoint: endpoint, region: region, accessKey: accessKey, secret: secret,
            retry: retry, timeout: timeout)
        var quick = api
        quick.rest.retry = RetryPolicy(attempts: min(retry.attempts, 2), initialDelay: retry.initialDelay, maxDelay: .milliseconds(500))
        quick.rest.timeout = min(timeout, .seconds(4))
        quick.rest.connectTimeout = .seconds(2)
        observing = quick
        // On AWS, S3 has endpoints of its own (virtual-host style in the
        // region); anywhere else (an S3-compatible stack, moto) the one
        // endpoint serves both, path style, told apart by the signature's
        // service.
        let onAWS = URLComponents(string: endpoint)?.host?.hasSuffix("amazonaws.com") ?? false
        s3Location = S3Location(
            bucket: spec.bucket ?? "", key: "", region: region, endpoint: onAWS ? nil : endpoint,
            credentials: accessKeyRef.flatMap { a in secretRef.map { AWSCredentials(accessKeyId: a, secretAccessKey: $0) } })
    }

    /// The named bucket, reached with the target's credentials.
    func bucket(_ bucket: String) throws -> S3Bucket {
        var location = s3Location
        location.bucket = bucket
        return try S3Bucket(location)
    }

    func required(_ value: String?, _ field: String, for purpose: String) throws -> String {
        guard let value, !value.isEmpty else { throw DriverError("target \(name): spec.\(field) is required to \(purpose) on sagemaker") }
        return value
    }

    /// Waits that start short and grow: a resource that settles at once
    /// (moto, a no-op update) costs a second, one that takes ten minutes
    /// costs a call every `longestPoll`. Never sleeps far past `deadline`.
    func pause(_ attempt: Int, until deadline: ContinuousClock.Instant) async throws {
        let wait = min(firstPoll * (1 << min(attempt, 10)), longestPoll)
        let left = deadline - ContinuousClock.now
        try await Task.sleep(for: max(.milliseconds(1), min(wait, left)))
    }

    // MARK: - Observe and stop

    /// What the driver keeps in `DeploymentRecord.detail`.
    struct Handles: Codable, Hashable {
        var endpoint: String
        var endpointConfig: String
        var model: String
        var modelData: String
        /// A canary's: the two-variant config its steps split requests
        /// with, until it takes them all.
        var split: String?
    }

    static func handles(_ record: DeploymentRecord) -> Handles? {
        try? JSONDecoder().decode(Handles.self, from: Data(record.detail.utf8))
    }

    /// The endpoint's description, or nil when it does not exist.
    func describeEndpoint(_ endpoint: String, through api: SageMakerAPI? = nil) async throws -> EndpointDescription? {
        do {
            return try await (api ?? self.api).call("DescribeEndpoint", ByName.endpoint(endpoint), idempotent: true)
        } catch let error as SageMakerError where error.isNotFound {
            return nil
        }
    }

    public func observe(_ record: DeploymentRecord, spec: DeploymentSpec?) async -> ObservedDeployment {
        guard let handles = Self.handles(record) else {
            return ObservedDeployment(
                name: record.name, serving: false, forwarding: false, healthy: nil,
                detail: "the record names no SageMaker endpoint")
        }
        let described: EndpointDescription?
        do {
            described = try await describeEndpoint(handles.endpoint, through: observing)
        } catch {
            return ObservedDeployment(name: record.name, serving: false, forwarding: false, healthy: nil, detail: "\(error)")
        }
        guard let endpoint = described else {
            return ObservedDeployment(
                name: record.name, serving: false, forwarding: false, healthy: nil,
                detail: "endpoint \(handles.endpoint) does not exist")
        }
        let status = endpoint.EndpointStatus
        let ours = endpoint.EndpointConfigName == handles.endpointConfig
        let reason = endpoint.FailureReason.map { ": \($0)" } ?? ""
        switch status {
        case "InService" where ours:
            return ObservedDeployment(
                name: record.name, serving: true, forwarding: true, healthy: true,
                detail: "endpoint \(handles.endpoint) is InService with \(handles.endpointConfig)")
        case "Failed", "OutOfService", "UpdateRollbackFailed":
            return ObservedDeployment(
                name: record.name, serving: true, forwarding: ours, healthy: false,
                detail: "endpoint \(handles.endpoint) is \(status)\(reason)")
        default:
            let config = endpoint.EndpointConfigName ?? "no config"
            return ObservedDeployment(
                name: record.name, serving: true, forwarding: ours, healthy: nil,
                detail: ours
                    ? "endpoint \(handles.endpoint) is \(status)"
                    : "endpoint \(handles.endpoint) uses \(config), not \(handles.endpointConfig) (changed outside Gantry)")
        }
    }

    /// Deletes the endpoint, then its config and model; each that is gone
    /// already counts as deleted.
    public func stop(_ record: DeploymentRecord) async throws {
        guard let handles = Self.handles(record) else { return }
        try await delete("DeleteEndpoint", .endpoint(handles.endpoint))
        try await delete("DeleteEndpointConfig", .endpointConfig(handles.endpointConfig))
        try await delete("DeleteModel", .model(handles.model))
    }

    func delete(_ action: String, _ body: ByName) async throws {
        do {
            try await api.perform(action, body, idempotent: true)
        } catch let error as SageMakerError where error.isNotFound {
            return
        }
    }
}
