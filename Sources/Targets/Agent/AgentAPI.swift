import Foundation
import Manifests
import StableAddress
import State

/// The messages of the node agent's REST API (docs/agent-openapi.yaml),
/// shared by the agent and the controller's `agent` driver.
public enum AgentAPI {
    /// `GET /v1/info`: what the agent is and where its workspace is, so a
    /// controller can write a job with the node's paths.
    public struct Info: Codable, Sendable {
        public var version: String
        public var workspace: String

        public init(version: String, workspace: String) {
            self.version = version
            self.workspace = workspace
        }
    }

    /// An artifact as it travels: its identity (`digest`, a file's SHA-256 or
    /// a directory's fingerprint) and the blob that carries it (the file
    /// itself, or a tar of the directory).
    public struct Artifact: Codable, Sendable, Hashable {
        public var digest: String
        public var blob: String
        public var name: String
        public var directory: Bool
    }

    /// The project's files at one commit, as a tar blob.
    public struct Project: Codable, Sendable, Hashable {
        public var commit: String
        public var blob: String
        /// The project root inside the repository ("" for its top).
        public var root: String
    }

    /// `PUT /v1/runs/{id}`: a training run. The same id is the same run: a
    /// second PUT adopts it (running or finished) instead of starting another.
    public struct RunRequest: Codable, Sendable {
        public var model: String
        public var lineageDigest: String
        public var project: Project
        /// Steps with the node's paths (see ``Info/workspace``).
        public var job: Job
        public var artifact: OutputRef
        public var metrics: OutputRef?
        /// Snapshots the node pulls from its snapshot remote and copies
        /// under `snapshots/checkouts/` before the run: fingerprint → the
        /// file name of a one-file snapshot ("" for a directory). The job's
        /// dataset paths name those copies.
        public var data: [String: String]?
    }

    /// `GET /v1/runs/{id}`.
    public struct RunStatus: Codable, Sendable {
        /// `running`, `succeeded`, `failed`.
        public var state: String
        public var error: String?
        public var steps: [String]
        public var artifact: Artifact?
        public var metrics: [String: Double]?
    }

    /// `PUT /v1/deployments/{name}`: serve `version` as `spec` says, with
    /// `${artifact}` the node's copy of `artifact`.
    public struct DeploymentRequest: Codable, Sendable {
        public var spec: DeploymentSpec
        public var specDigest: String
        public var version: VersionRecord
        public var artifact: Artifact
        public var project: Project
        /// Set when the Deployment serves from an MLflow registry.
        public var registry: RegistryModel?
    }

    /// `GET /v1/deployments/{name}`: what the node serves and what it sees.
    public struct DeploymentStatus: Codable, Sendable {
        public var record: DeploymentRecord
        public var observed: ObservedDeployment
    }

    /// `PUT /v1/deployments/{name}/next/weight`: the next version's share.
    public struct Weight: Codable, Sendable {
        public var percent: Int

        public init(percent: Int) { self.percent = percent }
    }

    /// `GET /v1/deployments/{name}/next`: the next version, what the node
    /// sees of it, and what its forwarder counted for it.
    public struct NextStatus: Codable, Sendable {
        public var record: DeploymentRecord
        public var observed: ObservedDeployment
        public var readings: BackendStats?
    }

    public struct Failure: Codable, Sendable {
        public var error: String

        public init(error: String) { self.error = error }
    }

    /// Run ids and deployment names travel in paths and name directories.
    public static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 200 && !name.hasPrefix(".")
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
    }

    /// `sha256:<64 hex>` and nothing else.
    public static func isBlobDigest(_ digest: String) -> Bool {
        let hex = digest.dropFirst("sha256:".count)
        return digest.hasPrefix("sha256:") && hex.count == 64 && hex.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }
}
