import Foundation
import Manifests
import Source

/// What Git says should exist, with each model's lineage computed: the
/// planner's input from the desired side.
public struct DesiredState: Sendable {
    public struct ModelState: Sendable {
        public var entry: Entry<ModelSpec>
        /// Nil when an input could not be fingerprinted; `problem` says why.
        public var lineage: Lineage?
        public var problem: String?
    }

    public var revision: Revision
    public var models: [String: ModelState]

    public var manifests: ManifestSet { revision.manifests }

    public init(revision: Revision, models: [String: ModelState]) {
        self.revision = revision
        self.models = models
    }

    /// Computes lineages for every model of a valid revision. Reads data to
    /// fingerprint it; runs nothing.
    /// `now` places models with a `triggers.schedule` in their period.
    public static func compute(_ revision: Revision, fingerprinter: Fingerprinter, now: Date = Date()) async -> DesiredState {
        let set = revision.manifests
        var fingerprints: [String: Result<String, any Error>] = [:]
        for (name, dataset) in set.datasets.sorted(by: { $0.key < $1.key }) {
            do { fingerprints[name] = .success(try await fingerprinter.fingerprint(dataset, in: revision)) }
            catch { fingerprints[name] = .failure(error) }
        }
        // The models' states are a function of the revision's snapshot and
        // the data's fingerprints: when neither changed (a controller loop
        // with nothing new), the last result is the answer.
        // Scheduled models belong to a period of `now`; a new period is a new answer.
        let windows = set.models.values.compactMap { m in
            m.spec.triggers?.schedule.map { "\(m.name)=\(Int(now.timeIntervalSince1970 / $0.seconds))" }
        }.sorted()
        let key = Memo.Key(source: revision.source, root: revision.root, commit: revision.commit.id.hex, windows: windows,
                           fingerprints: fingerprints.mapValues { result in
                               switch result {
                               case .success(let fingerprint): return "ok " + fingerprint
                               case .failure(let error): return "failed \(error)"
                               }
                           })
        if let models = Memo.shared.models(for: key) { return DesiredState(revision: revision, models: models) }
        var models: [String: ModelState] = [:]
        models.reserveCapacity(set.models.count)
        let shared = PerPipeline(revision: revision)
        for (name, model) in set.models {
            models[name] = modelState(model, set: set, revision: revision, fingerprints: fingerprints, shared: shared, now: now)
        }
        Memo.shared.remember(models, for: key)
        return DesiredState(revision: revision, models: models)
    }

    /// What every model trained by one pipeline shares: the digest of its
    /// definition and the tree id of its code. Thousands of models use a
    /// handful of pipelines; each is worked out once per revision.
    final class PerPipeline {
        let revision: Revision
        private var digests: [String: String] = [:]
        private var trees: [String: Result<String?, any Error>] = [:]

        init(revision: Revision) { self.revision = revision }

        func digest(_ pipeline: Entry<PipelineSpec>) -> String {
            if let known = digests[pipeline.name] { return known }
            let digest = "sha256:" + Digest.sha256(Digest.canonicalJSON(pipeline.spec))
            digests[pipeline.name] = digest
            return digest
        }

        /// The hex id of the tree or blob at `codePath`, nil when absent.
        func tree(_ codePath: String) throws -> String? {
            if let known = trees[codePath] { return try known.get() }
            let result = Result { try revision.object(at: codePath)?.hex }
            trees[codePath] = result
            return try result.get()
        }
    }

    static func modelState(_ model: Entry<ModelSpec>, set: ManifestSet, revision: Revision,
                           fingerprints: [String: Result<String, any Error>], shared: PerPipeline, now: Date) -> ModelState {
        guard let pipeline = set.pipelines[model.spec.pipeline] else {
            return ModelState(entry: model, lineage: nil, problem: "no pipeline \(model.spec.pipeline)")
        }
        var datasets: [String: String] = [:]
        for d in model.spec.datasets ?? [] {
            switch fingerprints[d] {
            case .success(let fp)?: datasets[d] = fp
            case .failure(let e)?: return ModelState(entry: model, lineage: nil, problem: "\(e)")
            case nil: return ModelState(entry: model, lineage: nil, problem: "no dataset \(d)")
            }
        }
        let codePath = pipeline.spec.codePath ?? "."
        let codeTree: String
        do {
            guard let id = try shared.tree(codePath) else {
                return ModelState(entry: model, lineage: nil,
                                  problem: "code path \(revision.repositoryPath(codePath)) of pipeline \(pipeline.name) is not in commit \(revision.commit.id.short)")
            }
            codeTree = id
        } catch {
            return ModelState(entry: model, lineage: nil, problem: "\(error)")
        }
        var params = pipeline.spec.params ?? [:]
        params.merge(model.spec.params ?? [:]) { $1 }
        let lineage = Lineage(
            model: model.name, commit: revision.commit.id.hex, pipeline: pipeline.name,
            pipelineDigest: shared.digest(pipeline),
            codePath: codePath, codeTree: codeTree, datasets: datasets, params: params,
            runtime: model.spec.runtime ?? [:],
            scheduleWindow: model.spec.triggers?.schedule.map { Int(now.timeIntervalSince1970 / $0.seconds) })
        return ModelState(entry: model, lineage: lineage, problem: nil)
    }
}
