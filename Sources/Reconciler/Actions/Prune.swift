import Foundation
import Lineage
import Targets

/// Stops a Deployment Git no longer declares and forgets its record.
struct PruneExecutor: ActionExecutor {
    var deployment: String

    func run(_ r: Reconciler, desired: DesiredState) async throws {
        guard let record = try r.store.deployment(deployment) else { return }
        try await r.driver(record.target, desired.manifests).stop(record)
        try r.store.removeDeployment(deployment)
    }
}
