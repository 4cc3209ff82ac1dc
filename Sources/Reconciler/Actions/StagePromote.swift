import Foundation
import Lineage
import Manifests
import Planner
import Source
import State
import Targets

/// Pins a later stage to the version its `promotion.from` Deployment has
/// served for the soak: a commit onto the followed branch when the model's
/// promotion policy is `auto`, a `gantry/<deployment>-v<N>` branch for
/// review otherwise. The outcome is kept in the version's promotion record
/// (`stage <deployment>: …`), so the plans after it do not propose it again.
struct StagePromoteExecutor: ActionExecutor {
    var deployment: String
    var model: String
    var version: Int
    var from: String

    func run(_ r: Reconciler, desired: DesiredState) async throws {
        guard let source = r.writeBack else { throw Reconciler.Blocked(description: "no repository to write the pin to") }
        guard let record = try r.store.version(model, version) else { throw Reconciler.Blocked(description: "\(model)@v\(version) does not exist") }
        let auto = desired.manifests.models[model]?.spec.promotion?.policy == .auto
        let branch = "gantry/\(deployment)-v\(version)"
        let soak = desired.manifests.deployments[deployment]?.spec.promotion?.soak.map { " for \($0)" } ?? ""
        let message =
            "gantry: promote \(deployment) to \(model)@v\(version) from \(from)\n\n\(from) served v\(version) live and healthy on every target\(soak).\nLineage: \(record.digest)\n"
        let (name, number) = (deployment, version)
        let outcome: String
        do {
            let result = try source.writeBack(
                message: message, author: r.author, destination: auto ? .trackedBranch(fallback: branch) : .branch(branch)
            ) { tip in
                guard let entry = tip.manifests.deployments[name], entry.spec.version < number else { return [:] }
                let path = entry.origin.file
                return [path: try PinEditor.setVersion(number, deployment: name, in: try tip.file(path) ?? [], file: path)]
            }
            if let result {
                outcome =
                    result.branch == branch
                    ? "\(source.isRemote ? "pushed" : "created") branch \(branch) (\(result.commit.short)) for review"
                    : "committed \(result.commit.short) to \(result.branch)"
            } else {
                outcome = "already pinned"
            }
        } catch {
            throw DriverError("writing the pin of \(deployment) to v\(version): \(error)")
        }
        let kept = record.promotion.isEmpty ? "" : record.promotion + "; "
        try r.store.setPromotion(model, version, kept + StagePromotion.marker(deployment) + outcome)
        r.log("  \(outcome)")
    }
}
