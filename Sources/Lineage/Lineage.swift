import Foundation
import Manifests

/// Everything a model version was made from. Its digest (everything but the
/// commit, which is recorded for people) is the version's identity: two
/// commits that change nothing a model depends on produce the same digest,
/// so a README edit retrains nothing.
///
///     let lineage = Lineage(model: "churn", commit: c, pipeline: "churn-training", ...)
///     lineage.digest  // "sha256:…"
public struct Lineage: Codable, Sendable, Hashable {
    public var model: String
    /// The commit the manifests were read from. Not part of the identity.
    public var commit: String
    public var pipeline: String
    /// Digest of the pipeline definition (steps, artifact, metrics).
    public var pipelineDigest: String
    public var codePath: String
    /// Git tree id of the training code path.
    public var codeTree: String
    /// Dataset name to fingerprint.
    public var datasets: [String: String]
    /// Effective parameters: pipeline defaults overridden by the model's.
    public var params: [String: ParamValue]
    public var runtime: [String: String]
    /// With `triggers.schedule`: which period since 1970 the version belongs
    /// to, so that a new period asks for a new version.
    public var scheduleWindow: Int?
    /// With `triggers.runtime`: the Python environment the steps run in
    /// (``RuntimeEnvironment``), so that a changed one asks for a new
    /// version. Nil otherwise, which leaves the digest as it was.
    public var environment: String?
    /// What the training ran on, captured when it ran; not part of the
    /// digest (a plan cannot know it before the training runs).
    public var captured: CapturedRuntime?

    public init(
        model: String, commit: String, pipeline: String, pipelineDigest: String, codePath: String,
        codeTree: String, datasets: [String: String], params: [String: ParamValue], runtime: [String: String],
        scheduleWindow: Int? = nil, environment: String? = nil
    ) {
        self.scheduleWindow = scheduleWindow
        self.environment = environment
        self.model = model
        self.commit = commit
        self.pipeline = pipeline
        self.pipelineDigest = pipelineDigest
        self.codePath = codePath
        self.codeTree = codeTree
        self.datasets = datasets
        self.params = params
        self.runtime = runtime
    }

    private struct Identity: Encodable {
        var model, pipeline, pipelineDigest, codeTree: String
        var datasets: [String: String]
        var params: [String: ParamValue]
        var runtime: [String: String]
        var scheduleWindow: Int?
        var environment: String?
    }

    public var digest: String {
        let identity = Identity(
            model: model, pipeline: pipeline, pipelineDigest: pipelineDigest, codeTree: codeTree,
            datasets: datasets, params: params, runtime: runtime, scheduleWindow: scheduleWindow, environment: environment)
        return "sha256:" + Digest.sha256(Digest.canonicalJSON(identity))
    }

    public var json: String { Digest.canonicalJSON(self) }

    public static func decode(_ json: String) -> Lineage? {
        try? JSONDecoder().decode(Lineage.self, from: Data(json.utf8))
    }

    /// Why `self` (desired) differs from `other` (an existing version), in
    /// the words a plan shows; only the inputs whose triggers are on count.
    public func changes(since other: Lineage, triggers: Triggers?) -> [String] {
        var out: [String] = []
        if pipeline != other.pipeline {
            out.append("pipeline changed (\(other.pipeline) -> \(pipeline))")
        } else if pipelineDigest != other.pipelineDigest {
            out.append("pipeline \(pipeline) definition changed")
        }
        if triggers?.code ?? true, codeTree != other.codeTree {
            out.append("training code \(codePath) changed (tree \(other.codeTree.prefix(12)) -> \(codeTree.prefix(12)))")
        }
        if triggers?.data ?? true {
            for name in Set(datasets.keys).union(other.datasets.keys).sorted() where datasets[name] != other.datasets[name] {
                switch (other.datasets[name], datasets[name]) {
                case (nil, _): out.append("dataset \(name) added")
                case (_, nil): out.append("dataset \(name) removed")
                case (let a?, let b?): out.append("dataset \(name) changed (\(Self.short(a)) -> \(Self.short(b)))")
                }
            }
        }
        if triggers?.params ?? true {
            for name in Set(params.keys).union(other.params.keys).sorted() where params[name] != other.params[name] {
                out.append("param \(name) changed (\(other.params[name]?.description ?? "unset") -> \(params[name]?.description ?? "unset"))")
            }
        }
        if runtime != other.runtime { out.append("runtime changed") }
        if triggers?.runtime == true, let environment, environment != other.environment {
            out.append(
                other.environment.map { "runtime environment changed (\(RuntimeEnvironment.short($0)) -> \(RuntimeEnvironment.short(environment)))" }
                    ?? "runtime environment recorded (\(RuntimeEnvironment.short(environment)))")
        }
        if let window = scheduleWindow, window != other.scheduleWindow, let every = triggers?.schedule {
            out.append("scheduled retrain (every \(every))")
        }
        return out
    }

    /// Whether `changes(since: other, triggers: triggers)` is empty, without
    /// writing out the changes: the planner asks this of every model on
    /// every reconcile, and almost always the answer is yes.
    public func matches(_ other: Lineage, triggers: Triggers?) -> Bool {
        guard pipeline == other.pipeline, pipelineDigest == other.pipelineDigest else { return false }
        if triggers?.code ?? true, codeTree != other.codeTree { return false }
        if triggers?.data ?? true, datasets != other.datasets { return false }
        if triggers?.params ?? true, params != other.params { return false }
        if let window = scheduleWindow, window != other.scheduleWindow, triggers?.schedule != nil { return false }
        if triggers?.runtime == true, let environment, environment != other.environment { return false }
        return runtime == other.runtime
    }

    /// A fingerprint as a reason shows it: a content hash shortened to 12
    /// hex digits, which tells two apart; anything else (an ETag, a
    /// Last-Modified time and length) in full, since a prefix of a date
    /// tells nothing.
    static func short(_ fingerprint: String) -> String {
        guard let colon = fingerprint.firstIndex(of: ":") else { return String(fingerprint.prefix(12)) }
        let kind = fingerprint[..<colon]
        let value = fingerprint[fingerprint.index(after: colon)...]
        let hashed: Set<Substring> = ["sha256", "git", "s3etag", "s3"]
        if hashed.contains(kind) || value.allSatisfy(\.isHexDigit) { return String(kind) + ":" + value.prefix(12) }
        return value.count > 120 ? String(fingerprint.prefix(120)) + "…" : fingerprint
    }
}
