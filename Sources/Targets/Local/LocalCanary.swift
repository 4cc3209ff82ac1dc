import Foundation
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
        let (serve, port) = try await startServer(serveRequest, directory: workspace.deployment(serveRequest.name), launch: launch)
        return record(serveRequest, address: address, serving: LocalServing(backendPort: port, serve: serve, forwarder: stable.forwarder))
    }

    public func split(_ canary: DeploymentRecord, stable: DeploymentRecord, percent: Int) async throws {
        guard let new = LocalServing.of(canary), let old = LocalServing.of(stable) else {
            throw DriverError("deployment \(canary.name): not served by the local target")
        }
        let control = ForwarderControl(directory: controlDirectory(canary.name))
        let routes = [
            Route(Endpoint(host: "127.0.0.1", port: UInt16(clamping: old.backendPort)), weight: 100 - percent),
            Route(Endpoint(host: "127.0.0.1", port: UInt16(clamping: new.backendPort)), weight: percent),
        ].filter { $0.weight > 0 }
        try control.setRoutes(routes)
        try await control.waitUntilRouting(routes, timeout: .seconds(10))
    }

    public func readings(_ canary: DeploymentRecord) -> BackendStats? {
        guard let new = LocalServing.of(canary) else { return nil }
        return ForwarderControl(directory: controlDirectory(canary.name)).status()?
            .stats(for: Endpoint(host: "127.0.0.1", port: UInt16(clamping: new.backendPort)))
    }

    public func abandon(_ canary: DeploymentRecord, stable: DeploymentRecord) async {
        guard let new = LocalServing.of(canary) else { return }
        if let old = LocalServing.of(stable) {
            let control = ForwarderControl(directory: controlDirectory(canary.name))
            let backend = Endpoint(host: "127.0.0.1", port: UInt16(clamping: old.backendPort))
            try? control.setBackend(backend)
            try? await control.waitUntilServing(backend, timeout: .seconds(10))
        }
        await drainAndStop(new, name: canary.name)
    }

    public func finish(_ canary: DeploymentRecord, replacing stable: DeploymentRecord) async {
        guard let old = LocalServing.of(stable), LocalServing.of(canary)?.serve != old.serve else { return }
        await drainAndStop(old, name: stable.name)
    }
}
