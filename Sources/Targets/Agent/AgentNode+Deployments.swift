import Foundation
import Lineage
import State

/// Serving on the node, through the local target's rollout. The last
/// request for each deployment is kept next to its serving logs, so the
/// node can observe it with its health check.
extension AgentNode {
    func deploymentRequestFile(_ name: String) -> String {
        (workspace.deployment(name) as NSString).appendingPathComponent("request.json")
    }

    /// Brings deployment `name` to the request. A deployment that already
    /// serves this version and spec, healthy, is left as it is, so a
    /// repeated PUT changes nothing.
    public func deploy(name: String, _ request: AgentAPI.DeploymentRequest) async throws -> AgentAPI.DeploymentStatus {
        guard AgentAPI.isSafeName(name) else { throw Problem(.badRequest, "invalid deployment name \(name)") }
        return try await rollouts.run(name) { [self] in
            let project = try await projectDirectory(request.project)
            let artifact = try await artifactPath(request.artifact)
            if let current = try store.deployment(name), current.version == request.version.number,
                current.specDigest == request.specDigest
            {
                let seen = await local.observe(current, spec: request.spec)
                if seen.serving && seen.forwarding && seen.healthy != false {
                    return AgentAPI.DeploymentStatus(record: current, observed: seen)
                }
            }
            var version = request.version
            version.artifactPath = artifact
            let record: DeploymentRecord
            do {
                record = try await local.serve(
                    LocalTarget.ServeRequest(
                        name: name, spec: request.spec, version: version, project: project, commit: request.project.commit,
                        current: try store.deployment(name), specDigest: request.specDigest,
                        registry: request.registry), launch: .untracked("deploy:\(name):\(version.number)"))
                try store.save(record)
            } catch {
                throw Problem(.failed, "\(error)")
            }
            // The registry's environment carries its credentials, and only
            // the spec is read back: they are not written to disk.
            var kept = request
            kept.registry = nil
            try JobFiles.write(kept, to: deploymentRequestFile(name))
            return AgentAPI.DeploymentStatus(record: record, observed: await local.observe(record, spec: request.spec))
        }
    }

    /// The node's copy of an artifact, written from its blob once.
    func artifactPath(_ artifact: AgentAPI.Artifact) async throws -> String {
        guard AgentAPI.isSafeName(artifact.name) else { throw Problem(.badRequest, "invalid artifact name \(artifact.name)") }
        let artifacts = ArtifactStore(workspace: workspace)
        let path = artifacts.path(digest: artifact.digest, name: artifact.name)
        if FileManager.default.fileExists(atPath: path) { return path }
        let blob = try requireBlob(artifact.blob, "artifact")
        let temporary = (workspace.path("blobs", "incoming") as NSString).appendingPathComponent(UUID().uuidString)
        if artifact.directory {
            try await Tarball.unpack(blob, into: temporary)
        } else {
            try FileManager.default.createDirectory(atPath: (temporary as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: blob, toPath: temporary)
        }
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        let digest = try ArtifactStore.digest(of: temporary)
        guard digest == artifact.digest else {
            throw Problem(.badRequest, "artifact \(artifact.name) has digest \(digest), not \(artifact.digest)")
        }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if rename(temporary, path) != 0, !FileManager.default.fileExists(atPath: path) {
            throw Problem(.failed, "cannot store artifact \(path): errno \(errno)")
        }
        return path
    }

    /// What deployment `name` serves and how it looks now; nil when the
    /// node serves no such deployment.
    public func deployment(_ name: String) async throws -> AgentAPI.DeploymentStatus? {
        guard AgentAPI.isSafeName(name), let record = try store.deployment(name) else { return nil }
        let spec = JobFiles.read(AgentAPI.DeploymentRequest.self, from: deploymentRequestFile(name))?.spec
        return AgentAPI.DeploymentStatus(record: record, observed: await local.observe(record, spec: spec))
    }

    /// Stops deployment `name` and forgets it; stopping one that is not
    /// there succeeds.
    public func removeDeployment(_ name: String) async throws {
        guard AgentAPI.isSafeName(name) else { throw Problem(.badRequest, "invalid deployment name \(name)") }
        try await rollouts.run(name) { [self] in
            guard let record = try store.deployment(name) else { return }
            try await local.stop(record)
            try store.removeDeployment(name)
            try? FileManager.default.removeItem(atPath: deploymentRequestFile(name))
        }
    }

    /// The serving process's log for the version deployed now.
    public func deploymentLog(_ name: String) throws -> String? {
        guard AgentAPI.isSafeName(name), let record = try store.deployment(name) else { return nil }
        let directory = workspace.deployment(name) as NSString
        let port = LocalServing.of(record)?.backendPort ?? 0
        return logText([
            directory.appendingPathComponent("v\(record.version)-\(port).log"),
            directory.appendingPathComponent("forwarder.log"),
        ])
    }
}
