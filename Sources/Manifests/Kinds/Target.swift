import YAML

/// Where work runs.
///
///     kind: Target
///     metadata: { name: gpu-node-1 }
///     spec:
///       type: agent
///       endpoint: https://gpu-node-1.internal:7443
///       credentials: { token: { env: GANTRY_AGENT_TOKEN } }
///       capabilities: [train, serve]
public struct TargetSpec: Sendable, Hashable, Codable {
    public enum TargetType: String, StringEnum, Codable {
        case local, agent, ray, mlflow, sagemaker
    }

    public enum Capability: String, StringEnum, Codable {
        case train, serve
        /// Splits one address's requests between two versions by weight (a
        /// canary's steps): the stable-address forwarder of local and agent
        /// targets, SageMaker's production-variant weights.
        case splitTraffic
        /// Counts each version's requests, failures and latencies itself
        /// (the forwarder), so that an analysis can read an error rate.
        case countRequests
        /// Runs `replicas` servers of one version behind one address.
        case replicas
    }

    public var type: TargetType
    /// Base URL of the agent, Ray dashboard, MLflow server or AWS endpoint.
    public var endpoint: String?
    /// AWS region, for `sagemaker`.
    public var region: String?
    /// Named credentials, each by reference.
    public var credentials: [String: SecretRef]?
    /// What the target may be used for; both when omitted.
    public var capabilities: [Capability]?
    /// `sagemaker`: the IAM role training jobs and models run as.
    public var roleArn: String?
    /// `sagemaker`: the S3 bucket artifacts and training output go to.
    public var bucket: String?
    /// `sagemaker`: the training container image.
    public var image: String?
    /// `sagemaker`: the instance type for training and endpoints.
    public var instanceType: String?
    /// `ray`: a directory the controller and every Ray worker see (a shared
    /// file system), where training jobs leave their outputs.
    public var storage: String?
    /// `agent` over https: a PEM file of the CA that signed the agent's
    /// certificate (an absolute path on the machine that runs Gantry),
    /// trusted instead of the system's CAs.
    public var caFile: String?

    public init(type: TargetType, endpoint: String? = nil) {
        self.type = type
        self.endpoint = endpoint
    }

    public func can(_ capability: Capability) -> Bool {
        capabilities?.contains(capability) ?? true
    }
}

extension TargetSpec.TargetType {
    /// What this type's driver can do. Validation refuses a manifest that
    /// asks a target for more (a canary where traffic cannot be split), and
    /// plans warn instead of acting.
    public var capabilities: Set<TargetSpec.Capability> {
        switch self {
        case .local: [.train, .serve, .splitTraffic, .countRequests, .replicas]
        case .agent: [.train, .serve, .replicas, .splitTraffic, .countRequests]
        case .mlflow: [.serve]
        case .ray: [.train, .serve]
        case .sagemaker: [.train, .serve, .replicas, .splitTraffic]
        }
    }
}
