import Foundation
import Lineage
import Manifests

/// What a reconcile would do, and why: a value computed without side
/// effects, printed by `plan` and executed exactly by `apply`.
///
///     let plan = Planner(desired: desired, observed: observed).plan()
///     print(plan.text)
public struct Plan: Encodable, Sendable {
    public struct Revision: Encodable, Sendable, Hashable {
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
    /// Objects already as Git says (`Plan+Render` words them: `inSync`).
    public var synced: [Note]
    /// What blocks an object without being an action, such as a pin of a
    /// version that does not exist (`Plan+Render` words them: `warnings`).
    public var blocked: [Note]

    public var isValid: Bool { diagnostics.isEmpty }
    public var hasChanges: Bool { !actions.isEmpty }

    public init(revision: Revision, diagnostics: [Diagnostic], actions: [Action], synced: [Note], blocked: [Note]) {
        self.revision = revision
        self.diagnostics = diagnostics
        self.actions = actions
        self.synced = synced
        self.blocked = blocked
    }

    /// Whether an operator suspended `object`, so this plan leaves it alone.
    public func isSuspended(_ object: String) -> Bool {
        blocked.contains { note in
            if note.object == object, case .suspended = note.state { return true }
            return false
        }
    }

    enum CodingKeys: String, CodingKey { case revision, diagnostics, actions, inSync, warnings }

    /// In JSON, the notes as the words `text` prints.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(revision, forKey: .revision)
        try c.encode(diagnostics, forKey: .diagnostics)
        try c.encode(actions, forKey: .actions)
        try c.encode(inSync, forKey: .inSync)
        try c.encode(warnings, forKey: .warnings)
    }
}

/// What a plan says about one object besides its actions: that it is as
/// Git says, or what leaves it alone. Typed; `Plan+Render` words it.
public struct Note: Sendable, Hashable {
    public enum Capability: String, Sendable, Hashable { case train, serve }

    public enum State: Sendable, Hashable {
        /// A Model whose current lineage has version `version`.
        case lineageMatches(version: Int)
        /// A Deployment serving `model`@`version` at `address`.
        case serves(model: String, version: Int, address: String)
        /// A Model whose lineage cannot be worked out.
        case noLineage(problem: String)
        /// Suspended by `actor` (for `reason`); `leftUndone` says what waits.
        case suspended(actor: String, reason: String, leftUndone: String)
        /// Its target is of a type this build cannot train on or serve on.
        case unsupportedTarget(Capability, target: String, type: String)
        /// A Deployment pinning a version that does not exist.
        case missingVersion(model: String, version: Int, latest: Int?)
        /// A Deployment pinning a version that fails its gates (deployed anyway).
        case pinnedFailsGates(model: String, version: Int, report: String)
        /// An action that will fail on its target: the target cannot be used.
        case targetUnusable(action: Action.Kind, target: String, problem: String)
        /// A SageMaker deploy of a version whose artifact is a directory.
        case directoryArtifact(target: String, model: String, version: Int, path: String)
        /// A later stage waiting to take `version` from `from`: `why`.
        case waitsForStage(from: String, version: Int, why: String)
        /// A Deployment whose rollout of `model`@`version` failed (`reason`):
        /// not tried again until Git pins another version or changes the
        /// serve spec; its targets go back to `previous` with autoRollback.
        case held(model: String, version: Int, previous: Int?, reason: String, rollsBack: Bool)
    }

    /// `Model/churn`, `Deployment/churn-prod`.
    public var object: String
    public var state: State

    public init(_ object: String, _ state: State) {
        self.object = object
        self.state = state
    }
}

/// One step of a plan: what to do, typed, and why in words.
///
///     switch action.step {
///     case .train(let model, let version, let target, let lineage): …
///     }
public struct Action: Sendable, Hashable {
    public enum Kind: String, Codable, Sendable, Comparable {
        /// Train a model whose current lineage has no version.
        case train
        /// Bring a Deployment to its pinned version (or repair drift).
        case deploy
        /// Write a new version's pin bump back to Git (a model's promotion policy).
        case promote
        /// Move a Deployment's targets to a version, wave by wave, or put
        /// them back on the version before a failed one.
        case rollout
        /// Stop a Deployment that Git no longer declares.
        case prune

        var order: Int {
            switch self {
            case .train: return 0
            case .promote: return 1
            case .deploy, .rollout: return 2
            case .prune: return 3
            }
        }
        public static func < (a: Kind, b: Kind) -> Bool { a.order < b.order }
    }

    /// What the action does, with exactly the values it needs.
    public enum Step: Sendable, Hashable {
        /// Train `model` from `lineage` on `target`; the version it gets is `version`.
        case train(model: String, version: Int, target: String, lineage: Lineage)
        /// Write the pin bump to `model`@`version` back to Git.
        case promote(model: String, version: Int)
        /// Pin `deployment` (a later stage) to `model`@`version`, which
        /// `from` has served for its soak, by a commit.
        case promoteStage(deployment: String, model: String, version: Int, from: String)
        /// Bring `deployment` on `target` to `model`@`version`, from `fromVersion` (nil: nothing serves).
        case deploy(deployment: String, model: String, version: Int, fromVersion: Int?, target: String)
        /// Stop `deployment`, which serves `model`@`version` on `target`.
        case prune(deployment: String, model: String, version: Int, target: String)
        /// Bring several targets of `deployment` to `model`@`version`, one
        /// wave after another; each wave must report the version live and
        /// healthy before the next starts. `rollingBack`: the targets go
        /// back to `version` because the one after it failed.
        case rollout(deployment: String, model: String, version: Int, waves: [[Move]], rollingBack: Bool)
    }

    /// One target of a rollout, and the version it serves now (nil: none).
    public struct Move: Sendable, Hashable, Encodable {
        public var target: String
        public var fromVersion: Int?

        public init(target: String, fromVersion: Int?) {
            self.target = target
            self.fromVersion = fromVersion
        }
    }

    public var step: Step
    public var reason: String

    public init(_ step: Step, reason: String) {
        self.step = step
        self.reason = reason
    }

    public var kind: Kind {
        switch step {
        case .train: return .train
        case .promote, .promoteStage: return .promote
        case .deploy: return .deploy
        case .rollout: return .rollout
        case .prune: return .prune
        }
    }

    /// `Model/churn`, `Deployment/churn-prod`.
    public var object: String {
        switch step {
        case .train(let model, _, _, _), .promote(let model, _): return "Model/\(model)"
        case .deploy(let deployment, _, _, _, _), .prune(let deployment, _, _, _), .rollout(let deployment, _, _, _, _),
            .promoteStage(let deployment, _, _, _):
            return "Deployment/\(deployment)"
        }
    }

    /// The model the action is about (a Deployment's: the one it serves).
    public var model: String {
        switch step {
        case .train(let model, _, _, _), .promote(let model, _), .deploy(_, let model, _, _, _), .prune(_, let model, _, _),
            .rollout(_, let model, _, _, _), .promoteStage(_, let model, _, _):
            return model
        }
    }

    /// For train, the number the new version will get; for deploy, the
    /// version to serve; for prune, the version served.
    public var version: Int {
        switch step {
        case .train(_, let version, _, _), .promote(_, let version), .deploy(_, _, let version, _, _), .prune(_, _, let version, _),
            .rollout(_, _, let version, _, _), .promoteStage(_, _, let version, _):
            return version
        }
    }

    /// For deploy, the version served now; for a rollout, the one its
    /// targets serve when they all serve the same.
    public var fromVersion: Int? {
        switch step {
        case .deploy(_, _, _, let from, _): return from
        case .rollout(_, _, _, let waves, _):
            let from = Set(waves.joined().map(\.fromVersion))
            return from.count == 1 ? from.first! : nil
        case .train, .promote, .prune, .promoteStage: return nil
        }
    }

    public var deployment: String? {
        switch step {
        case .deploy(let deployment, _, _, _, _), .prune(let deployment, _, _, _), .rollout(let deployment, _, _, _, _),
            .promoteStage(let deployment, _, _, _):
            return deployment
        case .train, .promote: return nil
        }
    }

    /// The target the action runs on; a promotion runs on Git, a rollout
    /// on several (`targets`).
    public var target: String? {
        switch step {
        case .train(_, _, let target, _), .deploy(_, _, _, _, let target), .prune(_, _, _, let target): return target
        case .promote, .rollout, .promoteStage: return nil
        }
    }

    /// Every target the action runs on.
    public var targets: [String] {
        if case .rollout(_, _, _, let waves, _) = step { return waves.joined().map(\.target) }
        return target.map { [$0] } ?? []
    }

    /// For train, the lineage to train from.
    public var lineage: Lineage? {
        if case .train(_, _, _, let lineage) = step { return lineage }
        return nil
    }

    /// One line: `train Model/churn -> v2: dataset churn-data changed`.
    public var summary: String {
        switch step {
        case .train(_, let version, _, _):
            return "train \(object) -> v\(version): \(reason)"
        case .deploy(_, let model, let version, let from, _):
            return "deploy \(object) \(model)@\(from.map { "v\($0) -> " } ?? "")v\(version): \(reason)"
        case .promote(_, let version):
            return "promote \(object) v\(version): \(reason)"
        case .promoteStage(_, let model, let version, let from):
            return "promote \(object) to \(model)@v\(version) from Deployment/\(from): \(reason)"
        case .prune:
            return "prune \(object): \(reason)"
        case .rollout(_, let model, let version, let waves, let rollingBack):
            let targets = waves.map { $0.map(\.target).joined(separator: ", ") }
            if rollingBack { return "roll back \(object) to \(model)@v\(version) on \(targets.joined(separator: ", ")): \(reason)" }
            let from = fromVersion.map { "v\($0) -> " } ?? ""
            let order = waves.count == 1 ? "on \(targets[0])" : "in \(waves.count) waves: " + targets.map { "[\($0)]" }.joined(separator: " then ")
            return "roll out \(object) \(model)@\(from)v\(version) \(order): \(reason)"
        }
    }
}

/// In JSON (`plan -o json`), flat: kind, object, reason and the values of
/// its step.
extension Action: Encodable {
    enum CodingKeys: String, CodingKey { case kind, object, reason, model, version, fromVersion, deployment, target, lineage, waves, rollback }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(object, forKey: .object)
        try c.encode(reason, forKey: .reason)
        try c.encode(model, forKey: .model)
        try c.encode(version, forKey: .version)
        try c.encodeIfPresent(fromVersion, forKey: .fromVersion)
        try c.encodeIfPresent(deployment, forKey: .deployment)
        try c.encodeIfPresent(target, forKey: .target)
        try c.encodeIfPresent(lineage, forKey: .lineage)
        if case .rollout(_, _, _, let waves, let rollingBack) = step {
            try c.encode(waves, forKey: .waves)
            try c.encode(rollingBack, forKey: .rollback)
        }
    }
}
