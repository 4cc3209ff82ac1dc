import Foundation
import HTTP
import Manifests
import Processes
import StableAddress
import State

/// The local target's canary: the new version runs next to the one that
/// serves, and the stable-address forwarder splits requests between them by
/// weight and counts what each answered.
extension LocalTarget: TrafficSplitting {
    public func startCanary(_ request: DeployRequest, launch: Launch) async throws -> DeploymentRecord {
        guard let current = request.current, let stable = LocalServing.of(current), stable.forwarder.isRunning else {
            throw DriverError("deployment \(request.deployment.name): a canary needs the version that serves and its forwarder running")
        }
        guard let address = request.deployment.spec.address.flatMap(Endpoint.init(parsing:)), address.description == current.address else {
            throw DriverError("deployment \(request.deployment.name): a canary keeps the stable address; move the address and the version in separate commits")
        }
        let serveRequest = ServeRequest(
            name: request.deployment.name, spec: request.deployment.spec, version: request.version,
            project: try Checkouts(workspace: workspace).project(request.revision), commit: request.revision.commit.id.hex,
            current: current, specDigest: request.specDigest, registry: request.registry)
        let replicas = try await startServers(
            serveRequest, directory: workspace.deployment(serveRequest.name), launch: launch, replacing: stable.replicas)
        return record(serveRequest, address: address, serving: LocalServing(replicas: replicas, forwarder: stable.forwarder))
    }

    public func split(_ canary: DeploymentRecord, stable: DeploymentRecord, percent: Int) async throws {
        guard let new = LocalServing.of(canary)?.replicas, let old = LocalServing.of(stable)?.replicas else {
            throw DriverError("deployment \(canary.name): not served by the local target")
        }
        // Each side's share spread over its replicas: weights in proportion
        // whatever the two replica counts.
        let routes =
            (old.map { Route($0.endpoint, weight: (100 - percent) * new.count) }
            + new.map { Route($0.endpoint, weight: percent * old.count) }).filter { $0.weight > 0 }
        let control = ForwarderControl(directory: controlDirectory(canary.name))
        try control.setRoutes(routes)
        try await control.waitUntilRouting(routes, timeout: .seconds(10))
    }

    public func readings(_ canary: DeploymentRecord) async -> BackendStats? {
        guard let new = LocalServing.of(canary), let status = ForwarderControl(directory: controlDirectory(canary.name)).status() else {
            return nil
        }
        return new.replicas.map { status.stats(for: $0.endpoint) }.reduce(BackendStats(), +)
    }

    public func observe(canary: DeploymentRecord, spec: DeploymentSpec?) async -> ObservedDeployment {
        await observe(canary, spec: spec)
    }

    public func modelMetrics(_ canary: DeploymentRecord, path: String) async throws -> [String: Double] {
        guard let replicas = LocalServing.of(canary)?.replicas else { throw DriverError("deployment \(canary.name): not served by the local target") }
        var sums: [String: Double] = [:]
        for replica in replicas {
            let url = "http://127.0.0.1:\(replica.port)\(path)"
            let response = try await http.send(HTTPRequest(url: url, timeout: .seconds(5), connectTimeout: .seconds(2)))
            guard (200..<300).contains(response.status) else { throw DriverError("\(url) answered \(response.status)") }
            sums.merge(PrometheusSamples.sums(response.text), uniquingKeysWith: +)
        }
        return sums
    }

    /// The local target observes the record this controller keeps.
    public func commit(_ canary: DeploymentRecord) async throws {}

    public func abandon(_ canary: DeploymentRecord, stable: DeploymentRecord) async {
        guard let new = LocalServing.of(canary) else { return }
        if let old = LocalServing.of(stable) {
            let control = ForwarderControl(directory: controlDirectory(canary.name))
            let routes = Self.routes(to: old.replicas)
            try? control.setRoutes(routes)
            try? await control.waitUntilRouting(routes, timeout: .seconds(10))
        }
        await drainAndStop(new, name: canary.name)
    }

    public func finish(_ canary: DeploymentRecord, replacing stable: DeploymentRecord) async {
        guard let old = LocalServing.of(stable), LocalServing.of(canary)?.serve != old.serve else { return }
        await drainAndStop(old, name: stable.name)
    }

    public func traffic(_ record: DeploymentRecord) async -> [TrafficShare]? {
        let control = ForwarderControl(directory: controlDirectory(record.name))
        guard let serving = LocalServing.of(record), let routes = control.routes()?.filter({ $0.weight > 0 }), !routes.isEmpty else { return nil }
        let status = control.status()
        let total = Double(routes.reduce(0) { $0 + $1.weight })
        let mine = Set(serving.replicas.map(\.endpoint))
        return routes.map { route in
            TrafficShare(
                backend: route.endpoint.description, percent: Double(route.weight) * 100 / total,
                version: mine.contains(route.endpoint) ? record.version : nil, stats: status?.stats(for: route.endpoint) ?? BackendStats())
        }
    }
}
