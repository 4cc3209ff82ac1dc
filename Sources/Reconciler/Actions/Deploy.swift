import Foundation
import Lineage
import Planner

/// Brings a Deployment to its pinned version on one target: a rollout of
/// one wave of one target (`Rollout.swift`), with the same read-back, hold
/// and rollback.
struct DeployExecutor: ActionExecutor {
    var deployment: String
    var model: String
    var version: Int
    var fromVersion: Int?
    var target: String

    func run(_ r: Reconciler, desired: DesiredState) async throws {
        try await RolloutExecutor(
            deployment: deployment, model: model, version: version,
            waves: [[Action.Move(target: target, fromVersion: fromVersion)]]
        ).run(r, desired: desired)
    }
}
