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

    public init(type: TargetType, endpoint: String? = nil) {
        self.type = type
        self.endpoint = endpoint
    }

    public func can(_ capability: Capability) -> Bool {
        capabilities?.contains(capability) ?? true
    }
}
