import Foundation
import Manifests
import Source

/// What Git says should exist, with each model's lineage computed: the
/// planner's input from the desired side.
public struct DesiredState: Sendable {
    /// A class, not a struct: the planner reads 10,000 of these per plan,
    /// and copying a struct that holds dozens of references retains and
    /// releases each of them; a state never changes once worked out.
    public final class ModelState: Sendable {
        public let entry: Entry<ModelSpec>
        /// Nil when an input could not be fingerprinted; `problem` says why.
        public let lineage: Lineage?
        public let problem: String?
        /// `lineage.digest`, computed once when the state is worked out (a
        /// lineage's digest is a SHA-256 over its canonical JSON); nil
        /// exactly when `lineage` is.
        public let digest: String?

        public init(entry: Entry<ModelSpec>, lineage: Lineage?, problem: String?) {
            self.entry = entry
            self.lineage = lineage
            self.problem = problem
            self.digest = lineage?.digest
        }

        /// A lineage whose digest is known already (the commit is not part of it).
        init(entry: Entry<ModelSpec>, lineage: Lineage, digest: String) {
            self.entry = entry
            self.lineage = lineage
            self.problem = nil
            self.digest = digest
        }
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
        await compute(revision, fingerprinter: fingerprinter, now: now, memo: .shared)
    }

    /// With a memo of its own (tests, which run side by side in one process).
    static func compute(_ revision: Revision, fingerprinter: Fingerprinter, now: Date, memo: Memo) async -> DesiredState {
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
        if let models = memo.models(for: key) { return DesiredState(revision: revision, models: models) }
        var models: [String: ModelState] = [:]
        models.reserveCapacity(set.models.count)
        let shared = PerPipeline(revision: revision)
        // A new commit usually leaves most models' inputs alone: their
        // lineage is the last one with the new commit, and the digest (which
        // leaves the commit out) stays.
        let previous = memo.lineages()
        var lineages: [String: Memo.Known] = [:]
        lineages.reserveCapacity(set.models.count)
        var carried = 0
        for (name, model) in set.models {
            let state = modelState(model, set: set, revision: revision, fingerprints: fingerprints, shared: shared, now: now,
                                   previous: previous[name])
            if let lineage = state.lineage, let digest = state.digest {
                lineages[name] = Memo.Known(spec: model.spec, lineage: lineage, digest: digest)
                if previous[name]?.digest == digest { carried += 1 }
            }
            models[name] = state
        }
        memo.remember(models, for: key)
        memo.remember(lineages: lineages, carried: carried)
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
                           fingerprints: [String: Result<String, any Error>], shared: PerPipeline, now: Date,
                           previous: Memo.Known? = nil) -> ModelState {
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
        let pipelineDigest = shared.digest(pipeline)
        let window = model.spec.triggers?.schedule.map { Int(now.timeIntervalSince1970 / $0.seconds) }
        // The spec covers the model's own params and runtime; the pipeline's
        // params are in its digest.
        if let known = previous, known.spec == model.spec, known.lineage.pipeline == pipeline.name,
           known.lineage.pipelineDigest == pipelineDigest, known.lineage.codeTree == codeTree, known.lineage.codePath == codePath,
           known.lineage.datasets == datasets, known.lineage.scheduleWindow == window {
            var lineage = known.lineage
            lineage.commit = revision.commit.id.hex
            return ModelState(entry: model, lineage: lineage, digest: known.digest)
        }
        let lineage = Lineage(
            model: model.name, commit: revision.commit.id.hex, pipeline: pipeline.name,
            pipelineDigest: pipelineDigest,
            codePath: codePath, codeTree: codeTree, datasets: datasets, params: params,
            runtime: model.spec.runtime ?? [:],
            scheduleWindow: window)
        return ModelState(entry: model, lineage: lineage, problem: nil)
    }
}
