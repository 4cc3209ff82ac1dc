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
        /// Its commit is the one it was worked out at: a state carried over
        /// keeps an earlier commit that gave the same inputs.
        /// `DesiredState.lineage(of:)` gives it with this revision's commit.
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
        // A new commit usually leaves most models alone: the last state of
        // a model whose manifest entry is the very same object (the
        // manifest cache keeps an unchanged file's objects) and whose
        // pipeline, code tree, data and schedule period are as they were
        // is this revision's state too. Only the others are worked out.
        let shared = PerPipeline(revision: revision)
        let previous = memo.lastModels()
        var models = previous
        var carried = 0
        for (name, model) in set.models {
            if let last = previous[name], last.entry === model,
               carries(last, set: set, fingerprints: fingerprints, shared: shared, now: now) {
                carried += 1
                continue
            }
            models[name] = modelState(model, set: set, revision: revision, fingerprints: fingerprints, shared: shared, now: now)
        }
        if models.count != set.models.count {
            models = models.filter { set.models[$0.key] != nil }
        }
        memo.remember(models, for: key, carried: carried)
        return DesiredState(revision: revision, models: models)
    }

    /// Whether `last`, a model's state worked out at an earlier revision
    /// from the same manifest entry, holds for this revision.
    static func carries(_ last: ModelState, set: ManifestSet, fingerprints: [String: Result<String, any Error>],
                        shared: PerPipeline, now: Date) -> Bool {
        guard let lineage = last.lineage, let pipeline = set.pipelines[lineage.pipeline] else { return false }
        let codePath = pipeline.spec.codePath ?? "."
        guard lineage.codePath == codePath, lineage.pipelineDigest == shared.digest(pipeline),
              (try? shared.tree(codePath)) == lineage.codeTree else { return false }
        let datasets = last.entry.spec.datasets ?? []
        guard datasets.count == lineage.datasets.count else { return false }
        for d in datasets {
            guard case .success(let fingerprint)? = fingerprints[d], lineage.datasets[d] == fingerprint else { return false }
        }
        return lineage.scheduleWindow == last.entry.spec.triggers?.schedule.map { Int(now.timeIntervalSince1970 / $0.seconds) }
    }

    /// A model's lineage at this revision, its commit included (a state
    /// carried over from an earlier commit keeps that commit in
    /// `ModelState.lineage`).
    public func lineage(of model: String) -> Lineage? {
        guard var lineage = models[model]?.lineage else { return nil }
        lineage.commit = revision.commit.id.hex
        return lineage
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
        let pipelineDigest = shared.digest(pipeline)
        let window = model.spec.triggers?.schedule.map { Int(now.timeIntervalSince1970 / $0.seconds) }
        let lineage = Lineage(
            model: model.name, commit: revision.commit.id.hex, pipeline: pipeline.name,
            pipelineDigest: pipelineDigest,
            codePath: codePath, codeTree: codeTree, datasets: datasets, params: params,
            runtime: model.spec.runtime ?? [:],
            scheduleWindow: window)
        return ModelState(entry: model, lineage: lineage, problem: nil)
    }
}
