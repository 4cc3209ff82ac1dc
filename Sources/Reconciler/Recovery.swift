import Foundation
import Manifests
import Planner
import State
import Targets

extension Reconciler {
    /// Cleans up launches a killed controller left open that this plan will
    /// not adopt: each one's driver stops what it started (a serving process
    /// no record names) or says it still runs; the rest are closed as failed.
    func recover(_ plan: Plan, _ manifests: ManifestSet) async throws {
        let adopted = Set(
            plan.actions.compactMap { action -> String? in
                guard case .train(let model, _, _, let lineage) = action.step else { return nil }
                return Planner.trainKey(model: model, digest: lineage.digest)
            })
        for intent in try journal.open() where !adopted.contains(intent.key) {
            // Records from before the target column ran on the local target.
            let target = intent.target.isEmpty ? ManifestSet.implicitLocalTarget : intent.target
            let deployment = intent.kind == .deploy ? intent.object.split(separator: "/").last.map(String.init) : nil
            // A canary frozen by its failure keeps its split while the
            // version is held (onFailure: freeze).
            if let deployment, try frozenCanary(intent.key, deployment, manifests) { continue }
            let current = try deployment.flatMap { try store.deployment($0, target: target) }
            let recovery: Recovery
            do {
                recovery = try await driver(target, manifests).recover(
                    OpenLaunch(key: intent.key, kind: intent.kind, object: intent.object, detail: intent.detail, current: current))
            } catch {
                recovery = .cleanedUp("closed an interrupted \(intent.kind.rawValue) of \(intent.object) (target \(target): \(error))")
            }
            guard case .cleanedUp(let what) = recovery else { continue }
            try journal.close(intent.key, .failed)
            log(what)
        }
    }

    /// Whether `key` launched the version that a hold with `onFailure:
    /// freeze` still holds for `deployment`.
    func frozenCanary(_ key: String, _ deployment: String, _ manifests: ManifestSet) throws -> Bool {
        guard let spec = manifests.deployments[deployment]?.spec, spec.strategy?.type == .canary, spec.strategy?.onFailure == .freeze,
            let hold = try store.hold(deployment), hold.holds(spec), key.split(separator: ":").last.flatMap({ Int($0) }) == hold.version
        else { return false }
        return true
    }
}
