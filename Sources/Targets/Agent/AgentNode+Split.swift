import Foundation
import Lineage
import StableAddress
import State

/// A new version next to the one a node serves, for a canary or a wave
/// started ahead of its turn: started (`PUT …/next`), given a share of the
/// requests (`PUT …/next/weight`), then made the deployment
/// (`POST …/next/promote`) or stopped (`DELETE …/next`). What the next
/// version is lives in `next.json` beside the deployment's request.
extension AgentNode {
    struct Next: Codable {
        var record: DeploymentRecord
        var request: AgentAPI.DeploymentRequest
    }

    func nextFile(_ name: String) -> String {
        (workspace.deployment(name) as NSString).appendingPathComponent("next.json")
    }

    func next(_ name: String) -> Next? { JobFiles.read(Next.self, from: nextFile(name)) }

    /// Starts the request's version next to the one that serves, healthy and
    /// taking no requests. A repeated PUT of the same version and spec
    /// returns the one already started.
    public func startNext(name: String, _ request: AgentAPI.DeploymentRequest) async throws -> AgentAPI.DeploymentStatus {
        guard AgentAPI.isSafeName(name) else { throw Problem(.badRequest, "invalid deployment name \(name)") }
        return try await rollouts.run(name) { [self] in
            guard let current = try store.deployment(name), let stable = LocalServing.of(current), stable.forwarder.isRunning else {
                throw Problem(.notFound, "deployment \(name) serves nothing here to start a next version beside")
            }
            if let next = next(name) {
                if next.record.version == request.version.number, next.record.specDigest == request.specDigest,
                    LocalServing.of(next.record)?.isServing == true
                {
                    return AgentAPI.DeploymentStatus(record: next.record, observed: await local.observe(next.record, spec: request.spec))
                }
                await dropNext(name, next, current: current)
            }
            guard let address = request.spec.address.flatMap(Endpoint.init(parsing:)), address.description == current.address else {
                throw Problem(.badRequest, "deployment \(name): a next version keeps the address \(current.address)")
            }
            var version = request.version
            version.artifactPath = try await artifactPath(request.artifact)
            let serve = LocalTarget.ServeRequest(
                name: name, spec: request.spec, version: version, project: try await projectDirectory(request.project),
                commit: request.project.commit, current: current, specDigest: request.specDigest, registry: request.registry)
            let replicas: [LocalServing.Replica]
            do {
                replicas = try await local.startServers(
                    serve, directory: workspace.deployment(name), launch: .untracked("next:\(name):\(version.number)"), replacing: stable.replicas)
            } catch {
                throw Problem(.failed, "\(error)")
            }
            let record = local.record(serve, address: address, serving: LocalServing(replicas: replicas, forwarder: stable.forwarder))
            var kept = request
            kept.registry = nil
            try JobFiles.write(Next(record: record, request: kept), to: nextFile(name))
            return AgentAPI.DeploymentStatus(record: record, observed: await local.observe(record, spec: request.spec))
        }
    }

    /// Gives the next version `percent` of the requests.
    public func weighNext(name: String, percent: Int) async throws {
        guard AgentAPI.isSafeName(name), (0...100).contains(percent) else { throw Problem(.badRequest, "invalid name or percent") }
        try await rollouts.run(name) { [self] in
            guard let next = next(name), let current = try store.deployment(name) else {
                throw Problem(.notFound, "deployment \(name) has no next version")
            }
            do { try await local.split(next.record, stable: current, percent: percent) } catch { throw Problem(.failed, "\(error)") }
        }
    }

    func retiringFile(_ name: String) -> String {
        (workspace.deployment(name) as NSString).appendingPathComponent("retiring.json")
    }

    /// Makes the next version the deployment. The one it replaces is
    /// stopped now, or with `retireLater` left running (named in
    /// `retiring.json`) until `retire`, so that a rollout can move on while
    /// it drains. Promoting when there is none (a repeat) answers with what
    /// serves.
    public func promoteNext(name: String, retireLater: Bool = false) async throws -> AgentAPI.DeploymentStatus {
        guard AgentAPI.isSafeName(name) else { throw Problem(.badRequest, "invalid deployment name \(name)") }
        return try await rollouts.run(name) { [self] in
            guard let next = next(name) else {
                guard let current = try store.deployment(name) else { throw Problem(.notFound, "no deployment \(name)") }
                return AgentAPI.DeploymentStatus(record: current, observed: await local.observe(current, spec: nil))
            }
            let previous = try store.deployment(name)
            if let previous { try await local.split(next.record, stable: previous, percent: 100) }
            try store.save(next.record)
            try JobFiles.write(next.request, to: deploymentRequestFile(name))
            if let previous, retireLater {
                try JobFiles.write(previous, to: retiringFile(name))
            }
            try? FileManager.default.removeItem(atPath: nextFile(name))
            if let previous, !retireLater { await local.finish(next.record, replacing: previous) }
            return AgentAPI.DeploymentStatus(record: next.record, observed: await local.observe(next.record, spec: next.request.spec))
        }
    }

    /// Stops what a promotion with `retireLater` left running, once its
    /// requests in flight finish; nothing to stop succeeds.
    public func retire(name: String) async throws {
        guard AgentAPI.isSafeName(name) else { throw Problem(.badRequest, "invalid deployment name \(name)") }
        try await rollouts.run(name) { [self] in
            guard let previous = JobFiles.read(DeploymentRecord.self, from: retiringFile(name)) else { return }
            if let current = try store.deployment(name) {
                await local.finish(current, replacing: previous)
            } else if let serving = LocalServing.of(previous) {
                await LocalTarget.stop(serving.replicas)
            }
            try? FileManager.default.removeItem(atPath: retiringFile(name))
        }
    }

    /// Every request back to the deployment, and the next version stopped.
    public func abandonNext(name: String) async throws {
        guard AgentAPI.isSafeName(name) else { throw Problem(.badRequest, "invalid deployment name \(name)") }
        try await rollouts.run(name) { [self] in
            guard let next = next(name) else { return }
            await dropNext(name, next, current: try store.deployment(name))
        }
    }

    func dropNext(_ name: String, _ next: Next, current: DeploymentRecord?) async {
        if let current {
            await local.abandon(next.record, stable: current)
        } else if let serving = LocalServing.of(next.record) {
            await LocalTarget.stop(serving.replicas)
        }
        try? FileManager.default.removeItem(atPath: nextFile(name))
    }

    /// The next version and what the forwarder counted for it; nil when
    /// there is none.
    public func nextStatus(_ name: String) async throws -> AgentAPI.NextStatus? {
        guard AgentAPI.isSafeName(name), let next = next(name) else { return nil }
        return AgentAPI.NextStatus(
            record: next.record, observed: await local.observe(next.record, spec: next.request.spec), readings: await local.readings(next.record))
    }

    /// The Prometheus metrics at `path` of the servers of `version` (the
    /// next version or the one that serves), each metric summed over labels
    /// and replicas: what an analysis gate reads.
    public func modelMetrics(_ name: String, version: Int, path: String) async throws -> [String: Double] {
        guard AgentAPI.isSafeName(name) else { throw Problem(.badRequest, "invalid deployment name \(name)") }
        guard path.hasPrefix("/"), !path.hasPrefix("//"), !path.contains(where: { $0.isWhitespace || $0 == "#" || $0 == "@" || $0 == "\\" }) else {
            throw Problem(.badRequest, "a metrics path is an absolute path on the model server, such as /metrics")
        }
        let records = [next(name)?.record, try store.deployment(name)].compactMap { $0 }
        guard let record = records.first(where: { $0.version == version }) else {
            throw Problem(.notFound, "deployment \(name) runs no version \(version) here")
        }
        do { return try await local.modelMetrics(record, path: path) } catch { throw Problem(.failed, "\(error)") }
    }

    /// How the deployment's address splits requests now.
    public func traffic(_ name: String) async throws -> [TrafficShare]? {
        guard AgentAPI.isSafeName(name), let current = try store.deployment(name) else { return nil }
        return await local.traffic(current)
    }
}
