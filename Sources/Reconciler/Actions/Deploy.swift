import Foundation
import Lineage
import Planner
import State
import Targets

/// Brings a Deployment to its pinned version on its target and records
/// what serves.
struct DeployExecutor: ActionExecutor {
    var deployment: String
    var model: String
    var version: Int
    var target: String

    func run(_ r: Reconciler, desired: DesiredState) async throws {
        let manifests = desired.manifests
        guard let entry = manifests.deployments[deployment] else {
            throw DriverError("Deployment \(deployment) is not declared at this revision")
        }
        let driver = try r.driver(target, manifests)
        guard let record = try r.store.version(model, version) else {
            throw DriverError("\(model)@\(version) does not exist")
        }
        var registry: RegistryModel?
        if let source = entry.spec.serve.registry {
            // Published first, so the server finds the version there.
            guard let publisher = try r.driver(source, manifests) as? any ModelRegistry else {
                throw DriverError("Deployment \(deployment): spec.serve.registry \(source) is not an mlflow target")
            }
            registry = try await publisher.published(record)
        }
        let launch = try r.journal.begin(.deploy, key: "deploy:\(deployment):\(version)", object: "Deployment/\(deployment)", target: target)
        do {
            let served = try await driver.deploy(
                DeployRequest(
                    deployment: entry, version: record, revision: desired.revision,
                    current: try r.store.deployment(deployment),
                    specDigest: Planner.specDigest(entry.spec), registry: registry),
                launch: launch)
            let previous = try r.store.deployment(deployment)
            try r.store.save(served)
            try r.journal.close(launch.key, .done)
            if let previous { await driver.retire(previous, replacedBy: served) }
        } catch {
            try? r.journal.close(launch.key, .failed)
            throw error
        }
    }
}
