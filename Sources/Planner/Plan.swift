import Foundation
import Lineage
import Manifests

/// What a reconcile would do, and why: a value computed without side
/// effects, printed by `plan` and executed exactly by `apply`.
///
///     let plan = Planner(desired: desired, observed: observed).plan()
///     print(plan.text)
public struct Plan: Codable, Sendable {
    public struct Revision: Codable, Sendable, Hashable {
        public var source: String
        public var commit: String
        public var author: String
        public var subject: String

        public init(source: String, commit: String, author: String, subject: String) {
            self.source = source
            self.commit = commit
            self.author = author
            self.subject = subject
        }
    }

    public var revision: Revision
    /// Manifest problems; an invalid revision has no actions at all.
    public var diagnostics: [Diagnostic]
    public var actions: [Action]
    /// Objects already as Git says, in words.
    public var inSync: [String]
    /// What blocks an object without being an action ("pins churn@5, which does not exist").
    public var warnings: [String]

    public var isValid: Bool { diagnostics.isEmpty }
    public var hasChanges: Bool { !actions.isEmpty }

    public init(revision: Revision, diagnostics: [Diagnostic], actions: [Action], inSync: [String], warnings: [String]) {
        self.revision = revision
        self.diagnostics = diagnostics
        self.actions = actions
        self.inSync = inSync
        self.warnings = warnings
    }
}

/// One step of a plan.
public struct Action: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable, Comparable {
        /// Train a model whose current lineage has no version.
        case train
        /// Bring a Deployment to its pinned version (or repair drift).
        case deploy
        /// Write a new version's pin bump back to Git (a model's promotion policy).
        case promote
        /// Stop a Deployment that Git no longer declares.
        case prune

        var order: Int {
            switch self {
            case .train: return 0
            case .promote: return 1
            case .deploy: return 2
            case .prune: return 3
            }
        }
        public static func < (a: Kind, b: Kind) -> Bool { a.order < b.order }
    }

    public var kind: Kind
    /// `Model/churn`, `Deployment/churn-prod`.
    public var object: String
    public var reason: String
    public var model: String?
    /// For train, the number the new version will get; for deploy, the
    /// version to serve.
    public var version: Int?
    /// For deploy, the version served now.
    public var fromVersion: Int?
    public var deployment: String?
    public var target: String?
    /// For train, the lineage to train from.
    public var lineage: Lineage?

    public init(kind: Kind, object: String, reason: String, model: String? = nil, version: Int? = nil,
                fromVersion: Int? = nil, deployment: String? = nil, target: String? = nil, lineage: Lineage? = nil) {
        self.kind = kind
        self.object = object
        self.reason = reason
        self.model = model
        self.version = version
        self.fromVersion = fromVersion
        self.deployment = deployment
        self.target = target
        self.lineage = lineage
    }

    /// One line: `train Model/churn -> v2: dataset churn-data changed`.
    public var summary: String {
        switch kind {
        case .train:
            return "train \(object) -> v\(version ?? 0): \(reason)"
        case .deploy:
            let from = fromVersion.map { "v\($0) -> " } ?? ""
            return "deploy \(object) \(model ?? "")@\(from)v\(version ?? 0): \(reason)"
        case .promote:
            return "promote \(object) v\(version ?? 0): \(reason)"
        case .prune:
            return "prune \(object): \(reason)"
        }
    }
}
