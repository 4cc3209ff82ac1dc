import Foundation
import Lineage
import Manifests

/// Outputs of pipeline steps, kept by a key of everything the step reads,
/// like DVC's run cache: after a change, only the steps whose inputs changed
/// run again; the others get their earlier outputs back.
///
/// A step's key is its definition (argv before expansion, env, working
/// directory), the params and dataset fingerprints its arguments use, its
/// declared `inputs` (their Git object ids), or the whole training code tree
/// when it declares none, the schedule period of a scheduled retrain, and,
/// added by the runner, the output digests of the steps it depends on.
struct StepCache: Sendable {
    let directory: String

    /// The part of a step's key known before the run starts.
    static func staticKey(step: Step, request: TrainingRequest) throws -> String {
        struct Key: Encodable {
            var argv: [String]?
            var notebook: Notebook?
            var env: [String: EnvValue]?
            var workingDir: String?
            var params: [String: String] = [:]
            var datasets: [String: String] = [:]
            var inputs: [String: String] = [:]
            var outputs: [String]?
            /// A scheduled retrain exists to pick up what the steps fetch
            /// themselves, which no fingerprint sees: each period misses
            /// the cache of the one before.
            var scheduleWindow: Int?
        }
        var key = Key(
            argv: step.command?.argv, notebook: step.notebook, env: step.env, workingDir: step.workingDir,
            outputs: step.outputs, scheduleWindow: request.lineage.scheduleWindow)
        for arg in step.command?.argv ?? [] {
            for p in Placeholder.all(in: arg) {
                guard let n = p.name else { continue }
                if p.namespace == "params" { key.params[n] = request.lineage.params[n]?.description ?? "" }
                if p.namespace == "datasets" { key.datasets[n] = request.lineage.datasets[n] ?? "" }
            }
        }
        if step.notebook != nil {
            // A notebook sees every param and dataset.
            key.params = request.lineage.params.mapValues(\.description)
            key.datasets = request.lineage.datasets
        }
        if let inputs = step.inputs, !inputs.isEmpty {
            for path in inputs {
                key.inputs[path] = try request.revision.object(at: path)?.hex ?? "absent"
            }
        } else {
            key.inputs[request.lineage.codePath] = request.lineage.codeTree
        }
        return Digest.canonicalJSON(key)
    }

    func entry(_ key: String) -> String { (directory as NSString).appendingPathComponent(key) }

    /// Copies cached outputs into `outputs` and returns their digest, or nil
    /// on a miss.
    func restore(_ key: String, into outputs: String) -> String? {
        let entry = entry(key)
        guard let digest = try? String(contentsOfFile: entry + "/digest", encoding: .utf8) else { return nil }
        try? FileManager.default.removeItem(atPath: outputs)
        do {
            try FileManager.default.copyItem(atPath: entry + "/outputs", toPath: outputs)
        } catch {
            return nil
        }
        return digest
    }

    /// Keeps a copy of `outputs` under `key`; written aside and renamed so a
    /// half-copied entry is never restored.
    func store(_ key: String, outputs: String, digest: String) {
        let entry = entry(key)
        let temporary = entry + ".partial-\(getpid())"
        try? FileManager.default.removeItem(atPath: temporary)
        do {
            try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: outputs, toPath: temporary + "/outputs")
            try digest.write(toFile: temporary + "/digest", atomically: true, encoding: .utf8)
            if rename(temporary, entry) != 0 { try? FileManager.default.removeItem(atPath: temporary) }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
        }
    }

    /// Content digest of a step's output directory.
    static func digest(of outputs: String) throws -> String {
        try Fingerprinter(store: nil).fingerprint(localPath: outputs, dataset: "outputs")
    }
}
