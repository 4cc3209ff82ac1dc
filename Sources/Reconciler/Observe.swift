import Foundation
import Lineage
import Planner
import State
import Targets

extension Reconciler {
    /// How many deployments are observed at the same time.
    static let observeWidth = 32

    /// What the store records and what each Deployment's driver sees now.
    public func observe(_ desired: DesiredState) async throws -> ObservedState {
        let (versions, stamp) = try store.stampedVersionsByModel()
        var deployments: [Slot: DeploymentRecord] = [:]
        var observations: [Slot: ObservedDeployment] = [:]
        let records = try store.deployments()
        for record in records { deployments[record.slot] = record }
        if let recorded {
            return try observedState(versions, stamp, deployments, recorded.observations, inFlight: recorded.inFlight)
        }
        // Deployments are observed concurrently, at most `observeWidth` at a
        // time: a slow or unreachable target costs its own timeout, not the
        // sum over all deployments, and 10,000 deployments do not open
        // 10,000 connections at once.
        let manifests = desired.manifests
        // One driver per target, built once (a driver may read credentials).
        var drivers: [String: Result<any TargetDriver, any Error>] = [:]
        for target in Set(records.map(\.target)) {
            drivers[target] = Result { try driver(target, manifests) }
        }
        await withTaskGroup(of: (Slot, ObservedDeployment).self) { group in
            var pending = records[...]
            func startNext() {
                guard let record = pending.popFirst() else { return }
                // Each target sees the spec as placed on it (its address).
                let spec = manifests.deployments[record.name]?.spec.placed(on: record.target)
                let driver = drivers[record.target]!
                group.addTask {
                    switch driver {
                    case .success(let driver): return (record.slot, await driver.observe(record, spec: spec))
                    case .failure(let error):
                        return (record.slot, ObservedDeployment(name: record.name, serving: false, forwarding: false, healthy: nil, detail: "\(error)"))
                    }
                }
            }
            for _ in 0..<Self.observeWidth { startNext() }
            for await (slot, seen) in group {
                observations[slot] = seen
                startNext()
            }
        }
        // Trainings a driver started: what a plan of the same lineage adopts.
        let inFlight = Set(try journal.open().filter { $0.kind == .train && !$0.detail.isEmpty }.map(\.key))
        return try observedState(versions, stamp, deployments, observations, inFlight: inFlight)
    }

    /// The observation with what the store records of suspensions and holds.
    private func observedState(
        _ versions: [String: [VersionRecord]], _ stamp: VersionsStamp, _ deployments: [Slot: DeploymentRecord],
        _ observations: [Slot: ObservedDeployment], inFlight: Set<String>
    ) throws -> ObservedState {
        let suspended = Dictionary(try store.suspensions().map { ($0.object, $0) }, uniquingKeysWith: { a, _ in a })
        let holds = Dictionary(try store.holds().map { ($0.deployment, $0) }, uniquingKeysWith: { a, _ in a })
        return ObservedState(
            versions: versions, deployments: deployments, observations: observations, inFlight: inFlight,
            suspended: suspended, holds: holds, versionsStamp: stamp)
    }
}
