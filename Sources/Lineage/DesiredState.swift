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
        var models: [String: ModelState] = [:]
        for (name, model) in set.models {
            models[name] = modelState(model, set: set, revision: revision, fingerprints: fingerprints, now: now)
        }
        return DesiredState(revision: revision, models: models)
    }

    static func modelState(_ model: Entry<ModelSpec>, set: ManifestSet, revision: Revision,
                           fingerprints: [String: Result<String, any Error>], now: Date) -> ModelState {
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
            guard let id = try revision.object(at: codePath) else {
                return ModelState(entry: model, lineage: nil,
                                  problem: "code path \(revision.repositoryPath(codePath)) of pipeline \(pipeline.name) is not in commit \(revision.commit.id.short)")
            }
            codeTree = id.hex
        } catch {
            return ModelState(entry: model, lineage: nil, problem: "\(error)")
        }
        var params = pipeline.spec.params ?? [:]
        params.merge(model.spec.params ?? [:]) { $1 }
        let lineage = Lineage(
            model: model.name, commit: revision.commit.id.hex, pipeline: pipeline.name,
            pipelineDigest: "sha256:" + Digest.sha256(Digest.canonicalJSON(pipeline.spec)),
            codePath: codePath, codeTree: codeTree, datasets: datasets, params: params,
            runtime: model.spec.runtime ?? [:],
            scheduleWindow: model.spec.triggers?.schedule.map { Int(now.timeIntervalSince1970 / $0.seconds) })
        return ModelState(entry: model, lineage: lineage, problem: nil)
    }
}
