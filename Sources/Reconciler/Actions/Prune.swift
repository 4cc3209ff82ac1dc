import Foundation
import Lineage
import Targets

/// Stops a Deployment on a target Git no longer declares it on, and
/// forgets its record there (and its hold, once no target is left).
struct PruneExecutor: ActionExecutor {
    var deployment: String
    var target: String

    func run(_ r: Reconciler, desired: DesiredState) async throws {
        guard let record = try r.store.deployment(deployment, target: target) else { return }
        try await r.driver(record.target, desired.manifests).stop(record)
        try r.store.removeDeployment(deployment, target: target)
        if try r.store.deployments(named: deployment).isEmpty { try r.store.release(deployment) }
    }
}
