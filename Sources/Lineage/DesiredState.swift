import Foundation
import Manifests
import Source
import Synchronization

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

    public let revision: Revision
    public let models: [String: ModelState]
    /// Equal for two states exactly when one is the other given back by the
    /// memo (the same snapshot, data and schedule periods): a planner may
    /// reuse what it worked out from the first for the second.
    public let generation: UInt64
    /// How this state differs from an earlier one, when it was worked out
    /// from it: a planner that kept what it made of that state revisits
    /// only these objects (and those whose observed state changed).
    public let delta: Delta?

    /// This state is state `base` with exactly these Models' states and
    /// these Deployments' entries replaced; every other object is the very
    /// same, and so are the names. The commit may differ.
    public struct Delta: Sendable {
        public let base: UInt64
        public let models: Set<String>
        public let deployments: Set<String>
    }

    public var manifests: ManifestSet { revision.manifests }

    public init(revision: Revision, models: [String: ModelState]) {
        self.init(revision: revision, models: models, generation: Self.generations.add(1, ordering: .relaxed).newValue)
    }

    init(revision: Revision, models: [String: ModelState], generation: UInt64, delta: Delta? = nil) {
        self.revision = revision
        self.models = models
        self.generation = generation
        self.delta = delta
    }

    private static let generations = Atomic<UInt64>(0)

    /// Computes lineages for every model of a valid revision. Reads data to
    /// fingerprint it; runs nothing.
    /// `now` places models with a `triggers.schedule` in their period.
    /// What `memo` remembers from the last computation is carried over where
    /// its inputs did not change; a controller keeps one memo for its life
    /// (its reconciler's), a one-off computation gets a fresh one.
    public static func compute(
        _ revision: Revision, fingerprinter: Fingerprinter, now: Date = Date(),
        memo: Memo = Memo()
    ) async -> DesiredState {
        let set = revision.manifests
        // Scheduled models belong to a period of `now`; a new period is a new answer.
        let windows = set.schedules.map { "\($0.key)=\(Int(now.timeIntervalSince1970 / $0.value.seconds))" }.sorted()
        // Data committed with the project is fingerprinted by its Git object
        // id, a function of the commit: when every dataset is, the same commit
        // in the same period has the last answer without a lookup.
        let last = memo.last()
        // Models that retrain on a changed Python environment ask for it on
        // every computation: it lives outside Git and the data.
        let environmentModels = set.runtimeTriggered.sorted().compactMap { set.models[$0] }
        if let last, last.key.commit == revision.commit.id.hex, last.key.source == revision.source, last.key.root == revision.root,
            last.key.windows == windows, set.datasets.values.allSatisfy({ $0.spec.source.path.map { !$0.hasPrefix("/") } ?? false }),
            environmentModels.isEmpty
        {
            return DesiredState(revision: revision, models: last.models, generation: last.generation)
        }
        var fingerprints = await fingerprintAll(set.datasets, fingerprinter: fingerprinter, revision: revision)
        // Under names no Dataset can have, so that a changed environment
        // counts as changed data of the models that compare it.
        for model in environmentModels {
            let key = environmentKey(model.spec)
            guard fingerprints[key] == nil, let pipeline = set.pipelines[model.spec.pipeline] else { continue }
            do {
                let lockfile = try model.spec.runtime?["lockfile"].map { try revision.file($0) ?? [] }
                fingerprints[key] = .success(try await RuntimeEnvironment.fingerprint(pipeline.spec, lockfile: lockfile))
            } catch {
                fingerprints[key] = .failure(error)
            }
        }
        // The models' states are a function of the revision's snapshot and
        // the data's fingerprints: when neither changed (a controller loop
        // with nothing new), the last result is the answer.
        let key = Memo.Key(
            source: revision.source, root: revision.root, commit: revision.commit.id.hex, windows: windows,
            fingerprints: fingerprints.mapValues { result in
                switch result {
                case .success(let fingerprint): return "ok " + fingerprint
                case .failure(let error): return "failed \(error)"
                }
            })
        if let last, last.key == key { return DesiredState(revision: revision, models: last.models, generation: last.generation) }
        // A new commit usually leaves most models alone. The last state of a
        // model whose manifest entry is the very same object (the manifest
        // cache keeps an unchanged file's objects) holds for this revision
        // too, unless its pipeline's inputs, its data or its schedule period
        // changed. Only the other models are worked out.
        let shared = PerPipeline(revision: revision, last: last?.pipelines ?? [:])
        var pipelines: [String: PipelineInputs] = [:]
        var changedPipelines: Set<String> = []
        for (name, pipeline) in set.pipelines {
            let inputs = shared.inputs(pipeline)
            pipelines[name] = inputs
            if last?.pipelines[name] != inputs { changedPipelines.insert(name) }
        }
        for name in (last?.pipelines ?? [:]).keys where set.pipelines[name] == nil { changedPipelines.insert(name) }
        let outcomes = key.fingerprints
        let changedDatasets = Set(outcomes.keys.filter { last?.key.fingerprints[$0] != outcomes[$0] })
            .union((last?.key.fingerprints.keys).map { Set($0).subtracting(outcomes.keys) } ?? [])
        let previous = last?.models ?? [:]
        var models = previous
        var carried = 0
        // When this set is the last one with a few Models' entries replaced
        // and nothing else changed, only those Models are visited: touching
        // 10,000 entries scattered over the heap costs more than all the
        // rest of the work.
        let candidates: [(key: String, value: Entry<ModelSpec>)]
        let onlyManifests = changedPipelines.isEmpty && changedDatasets.isEmpty && windows == last?.key.windows
        // Set when only the candidates can differ from the last state.
        var replacedDeployments: Set<String>?
        if let last, onlyManifests, set.generation == last.manifests {
            candidates = []  // the same set at another commit: a change outside the project
            carried = set.models.count
            replacedDeployments = []
        } else if let last, onlyManifests, let replaced = set.replaced, replaced.base == last.manifests {
            candidates = replaced.models.compactMap { name in set.models[name].map { (name, $0) } }
            carried = set.models.count - candidates.count
            replacedDeployments = replaced.deployments
        } else {
            candidates = Array(set.models)
        }
        var worked: Set<String> = []
        for (name, model) in candidates {
            if let before = previous[name], before.entry === model, before.lineage != nil,
                !changedPipelines.contains(model.spec.pipeline),
                changedDatasets.isEmpty || !(model.spec.datasets ?? []).contains(where: changedDatasets.contains),
                model.spec.triggers?.runtime != true || !changedDatasets.contains(environmentKey(model.spec)),
                model.spec.triggers?.schedule.map({ Int(now.timeIntervalSince1970 / $0.seconds) }) == before.lineage?.scheduleWindow
            {
                carried += 1
                continue
            }
            models[name] = modelState(model, set: set, revision: revision, fingerprints: fingerprints, shared: shared, now: now)
            worked.insert(name)
        }
        if models.count != set.models.count {
            models = models.filter { set.models[$0.key] != nil }
        }
        var delta: Delta?
        if let last, let replacedDeployments {
            delta = Delta(base: last.generation, models: worked, deployments: replacedDeployments)
        }
        let state = DesiredState(
            revision: revision, models: models, generation: Self.generations.add(1, ordering: .relaxed).newValue,
            delta: delta)
        memo.remember(
            Memo.Last(
                key: key, models: models, generation: state.generation, manifests: set.generation,
                pipelines: pipelines), carried: carried)
        return state
    }

    /// What a model's lineage takes from its pipeline.
    struct PipelineInputs: Equatable {
        /// The pipeline entry the digest was worked out from.
        var entry: Entry<PipelineSpec>
        var digest: String
        var codePath: String
        /// Nil when the code path is absent or cannot be read.
        var codeTree: String?

        static func == (a: Self, b: Self) -> Bool {
            a.digest == b.digest && a.codePath == b.codePath && a.codeTree == b.codeTree
        }
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
        /// The last computation's inputs: a digest whose pipeline entry is
        /// the same object is not worked out again.
        let last: [String: PipelineInputs]
        private var digests: [String: String] = [:]
        private var trees: [String: Result<String?, any Error>] = [:]

        init(revision: Revision, last: [String: PipelineInputs] = [:]) {
            self.revision = revision
            self.last = last
        }

        func digest(_ pipeline: Entry<PipelineSpec>) -> String {
            if let known = digests[pipeline.name] { return known }
            let digest =
                last[pipeline.name].flatMap { $0.entry === pipeline ? $0.digest : nil }
                ?? "sha256:" + Digest.sha256(Digest.canonicalJSON(pipeline.spec))
            digests[pipeline.name] = digest
            return digest
        }

        func inputs(_ pipeline: Entry<PipelineSpec>) -> PipelineInputs {
            let codePath = pipeline.spec.codePath ?? "."
            return PipelineInputs(
                entry: pipeline, digest: digest(pipeline), codePath: codePath,
                codeTree: (try? tree(codePath)) ?? nil)
        }

        /// The hex id of the tree or blob at `codePath`, nil when absent.
        func tree(_ codePath: String) throws -> String? {
            if let known = trees[codePath] { return try known.get() }
            let result = Result { try revision.object(at: codePath)?.hex }
            trees[codePath] = result
            return try result.get()
        }
    }

    /// How many datasets are fingerprinted at once: an unresponsive URL
    /// costs its own timeout, not the sum over every dataset after it.
    static let fingerprintWidth = 8

    static func fingerprintAll(
        _ datasets: [String: Entry<DatasetSpec>], fingerprinter: Fingerprinter,
        revision: Revision
    ) async -> [String: Result<String, any Error>] {
        var fingerprints: [String: Result<String, any Error>] = [:]
        // Data in Git is a lookup in the commit: no need for a task each.
        var remote: [(String, Entry<DatasetSpec>)] = []
        for (name, dataset) in datasets {
            if let path = dataset.spec.source.path, !path.hasPrefix("/") {
                do { fingerprints[name] = .success(try await fingerprinter.fingerprint(dataset, in: revision)) } catch { fingerprints[name] = .failure(error) }
            } else {
                remote.append((name, dataset))
            }
        }
        await withTaskGroup(of: (String, Result<String, any Error>).self) { group in
            var pending = remote.sorted { $0.0 < $1.0 }[...]
            func startNext() {
                guard let (name, dataset) = pending.popFirst() else { return }
                group.addTask {
                    do { return (name, .success(try await fingerprinter.fingerprint(dataset, in: revision))) } catch { return (name, .failure(error)) }
                }
            }
            for _ in 0..<Self.fingerprintWidth { startNext() }
            for await (name, result) in group {
                fingerprints[name] = result
                startNext()
            }
        }
        return fingerprints
    }

    /// Where a model's Python environment is kept among the fingerprints:
    /// by its pipeline and lockfile, the inputs of the probe.
    static func environmentKey(_ spec: ModelSpec) -> String {
        "runtime:" + spec.pipeline + ":" + (spec.runtime?["lockfile"] ?? "")
    }

    static func modelState(
        _ model: Entry<ModelSpec>, set: ManifestSet, revision: Revision,
        fingerprints: [String: Result<String, any Error>], shared: PerPipeline, now: Date
    ) -> ModelState {
        guard let pipeline = set.pipelines[model.spec.pipeline] else {
            return ModelState(entry: model, lineage: nil, problem: "no pipeline \(model.spec.pipeline)")
        }
        var datasets: [String: String] = [:]
        var problems: [String] = []  // every dataset that failed, not just the first
        for d in model.spec.datasets ?? [] {
            switch fingerprints[d] {
            case .success(let fp)?: datasets[d] = fp
            case .failure(let e)?: problems.append("\(e)")
            case nil: problems.append("no dataset \(d)")
            }
        }
        var environment: String?
        if model.spec.triggers?.runtime == true {
            switch fingerprints[environmentKey(model.spec)] {
            case .success(let fp)?: environment = fp
            case .failure(let e)?: problems.append("runtime environment: \(e)")
            case nil: problems.append("runtime environment: not read")
            }
        }
        if !problems.isEmpty { return ModelState(entry: model, lineage: nil, problem: problems.joined(separator: "; ")) }
        let codePath = pipeline.spec.codePath ?? "."
        let codeTree: String
        do {
            guard let id = try shared.tree(codePath) else {
                return ModelState(
                    entry: model, lineage: nil,
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
            scheduleWindow: window, environment: environment)
        return ModelState(entry: model, lineage: lineage, problem: nil)
    }
}
