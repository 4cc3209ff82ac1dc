import Foundation
import Lineage
import Manifests
import Source
import State
import Synchronization
import Targets

/// Writes the pin bump of a version that passed its gates back to Git:
/// onto the tracked branch (`auto`) or a `gantry/<model>-v<N>` branch for
/// review (`manual`). Deployments pinned to a newer version, and later
/// stages (which take a version from another Deployment), are left alone.
struct PromoteExecutor: ActionExecutor {
    var model: String
    var version: Int

    func run(_ r: Reconciler, desired: DesiredState) async throws {
        guard let policy = desired.manifests.models[model]?.spec.promotion?.policy else {
            throw DriverError("Model \(model) has no promotion policy at this revision")
        }
        let store = r.store
        guard let record = try store.version(model, version) else { throw Reconciler.Blocked(description: "\(model)@v\(version) was not trained") }
        guard record.gatesPassed else {
            try store.setPromotion(model, version, "blocked: \(record.gateReport)")
            throw Reconciler.Blocked(description: "v\(version) fails its gates: \(record.gateReport)")
        }
        guard let source = r.writeBack else { throw Reconciler.Blocked(description: "no repository to write the pin bump to") }
        let branch = "gantry/\(model)-v\(version)"
        let (model, number) = (model, version)
        let result: WriteBackResult?
        let left = Mutex<[String]>([])
        do {
            result = try source.writeBack(
                message: try r.promotionMessage(model: model, version: record), author: r.author,
                destination: policy == .auto ? .trackedBranch(fallback: branch) : .branch(branch)
            ) { tip in
                var files: [String: [UInt8]] = [:]
                // A later stage (`promotion.from`) takes the version from its
                // earlier one after a soak, not from here; one a person
                // rolled back stays until a person changes its pin.
                for d in tip.manifests.deployments.values.sorted(by: { $0.name < $1.name })
                where d.spec.model == model && d.spec.version < number && d.spec.promotion == nil {
                    if let pin = try store.manualPin(d.name) {
                        if pin.applies(to: d.spec.version) {
                            left.withLock { $0.append("\(d.name) left on v\(d.spec.version): \(pin.text)") }
                            continue
                        }
                        try store.removeManualPin(d.name)
                    }
                    let path = d.origin.file
                    let bytes = try files[path] ?? tip.file(path) ?? []
                    files[path] = try PinEditor.setVersion(number, deployment: d.name, in: bytes, file: path)
                }
                return files
            }
        } catch {
            try store.setPromotion(model, version, "failed: \(error)")
            throw error
        }
        let outcome: String
        if let result {
            let how =
                result.branch == branch
                ? "\(source.isRemote ? "pushed" : "created") branch \(branch) (\(result.commit.short))"
                : "committed \(result.commit.short) to \(result.branch)"
            outcome = how + (result.note.map { "; \($0)" } ?? "")
        } else {
            outcome = left.withLock { $0.isEmpty } ? "already pinned" : "nothing pinned"
        }
        let alone = left.withLock { $0 }
        let note = alone.isEmpty ? "" : "; " + alone.joined(separator: "; ")
        try store.setPromotion(model, version, outcome + note)
        r.log("  \(outcome)\(note)")
    }
}

extension Reconciler {
    /// "gantry: promote churn to v8 (dataset churn-data changed)", with the
    /// lineage and metrics in the body.
    func promotionMessage(model: String, version: VersionRecord) throws -> String {
        let lineage = Lineage.decode(version.lineage)
        let parent = try store.versions(of: model).last { $0.number < version.number }
        var why = "first version"
        if let lineage, let p = parent.flatMap({ Lineage.decode($0.lineage) }) {
            let changes = lineage.changes(since: p, triggers: nil).map { $0.replacingOccurrences(of: #" \(.*\)$"#, with: "", options: .regularExpression) }
            why = changes.isEmpty ? "retrained" : changes.joined(separator: ", ")
        }
        let metrics = version.metricValues.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%g", $0.value))" }.joined(separator: " ")
        return "gantry: promote \(model) to v\(version.number) (\(why))\n\nLineage: \(version.digest)\nMetrics: \(metrics)\nGates: \(version.gateReport)\n"
    }
}
