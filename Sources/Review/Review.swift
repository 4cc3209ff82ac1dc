import Foundation
import Git
import Lineage
import Manifests
import Planner
import Reconciler
import Source
import State

/// What merging `head` into `base` would do: the field-level manifest
/// changes, the actions with their reasons, why models retrain, which pinned
/// versions change (with their metrics side by side), and the head's
/// validation errors. Computed from manifests, lineages and the state store;
/// nothing from either revision is run.
///
///     let review = try await Review.compute(base: base, head: head, reconciler: reconciler)
///     print(review.markdown)
public struct Review: Encodable, Sendable {
    public enum Result: String, Codable, Sendable {
        case invalid, changes, nothing
    }

    public struct FieldChange: Codable, Sendable, Hashable {
        public var field: String
        public var before: String?
        public var after: String?
    }

    public struct ObjectChange: Codable, Sendable {
        public enum Change: String, Codable, Sendable { case added, removed, modified }
        public var object: String
        public var file: String
        public var change: Change
        public var fields: [FieldChange]
    }

    public struct CommitLine: Codable, Sendable, Hashable {
        public var id: String
        public var subject: String
        public var author: String
    }

    public struct InputChange: Codable, Sendable {
        public var model: String
        public var changes: [String]
        /// Commits that changed the training code path, newest first.
        public var codeCommits: [CommitLine]
    }

    /// The files (and CSV/TSV rows) a retraining would read that differ
    /// from what the model's latest version was trained on: its snapshot
    /// against the data now.
    public struct DataChange: Codable, Sendable {
        public var model: String
        public var since: Int
        public var files: [SnapshotDiff.FileChange]
    }

    public struct PinChange: Codable, Sendable {
        public var deployment: String
        public var model: String
        public var from: Int?
        public var to: Int
        public var fromMetrics: [String: Double]?
        public var toMetrics: [String: Double]?
        /// Nil when the version does not exist yet (the merge would train it).
        public var toLineage: Lineage?
        public var toGates: String?
    }

    public var base: Plan.Revision
    public var head: Plan.Revision
    public var result: Result
    public var diagnostics: [Diagnostic]
    public var actions: [Action]
    public var warnings: [String]
    public var objectChanges: [ObjectChange]
    public var inputChanges: [InputChange]
    public var dataChanges: [DataChange] = []
    public var pinChanges: [PinChange]
    /// What the plan was made against: a controller's recorded and observed
    /// state, this machine's state directory, or Git alone.
    public var plannedAgainst: String?

    /// `head` is what is planned (the merge result, or the head itself);
    /// `shown`, when given, is the head as the review names it.
    public static func compute(
        base: Revision, head: Revision, reconciler: Reconciler, shown: Revision? = nil, plannedAgainst: String? = nil
    ) async throws -> Review {
        let fingerprinter = Fingerprinter(store: reconciler.store, cacheWrites: false)
        // The reconciler's memo: the head's states are worked out from the
        // base's, revisiting only the models whose inputs differ.
        let baseDesired = await DesiredState.compute(base, fingerprinter: fingerprinter, memo: reconciler.desiredMemo)
        let (headDesired, headPlan) = try await reconciler.plan(head, readOnly: true)
        let store = reconciler.store

        var inputs: [InputChange] = []
        for (name, state) in headDesired.models.sorted(by: { $0.key < $1.key }) {
            guard let after = state.lineage else { continue }
            guard let before = baseDesired.models[name]?.lineage else {
                inputs.append(InputChange(model: name, changes: ["new model"], codeCommits: []))
                continue
            }
            let changes = after.changes(since: before, triggers: nil)
            guard !changes.isEmpty else { continue }
            var commits: [CommitLine] = []
            if after.codeTree != before.codeTree {
                // Not the planned merge commit itself: it exists only here.
                commits = try head.commits(since: base, touching: after.codePath).filter { shown == nil || $0.id != head.commit.id }.map {
                    CommitLine(id: $0.id.hex, subject: $0.subject, author: $0.authorName)
                }
            }
            inputs.append(InputChange(model: name, changes: changes, codeCommits: commits))
        }

        var pins: [PinChange] = []
        for (name, deployment) in head.manifests.deployments.sorted(by: { $0.key < $1.key }) {
            let before = base.manifests.deployments[name]?.spec
            let spec = deployment.spec
            guard before?.version != spec.version || before?.model != spec.model else { continue }
            let from = before.flatMap { try? store.version($0.model, $0.version) }
            let to = try store.version(spec.model, spec.version)
            pins.append(
                PinChange(
                    deployment: name, model: spec.model, from: before?.version, to: spec.version,
                    fromMetrics: from?.metricValues, toMetrics: to?.metricValues,
                    toLineage: to.flatMap { Lineage.decode($0.lineage) },
                    toGates: to.map { $0.gatesPassed ? "pass" : "fail: \($0.gateReport)" }))
        }

        let changes = ManifestDiff.changes(from: base.manifests, to: head.manifests)
        let result: Result = !head.isValid ? .invalid : (headPlan.hasChanges || !changes.isEmpty ? .changes : .nothing)
        var review = Review(
            base: revision(base), head: revision(shown ?? head), result: result, diagnostics: head.diagnostics,
            actions: headPlan.actions, warnings: headPlan.warnings, objectChanges: changes,
            inputChanges: inputs, pinChanges: pins, plannedAgainst: plannedAgainst)
        review.dataChanges = try dataChanges(headPlan, head.manifests, store: store, snapshots: SnapshotStore(root: reconciler.workspace.snapshots))
        return review
    }

    /// For each training planned on changed local data: the files that
    /// differ from the snapshot of the model's latest version.
    static func dataChanges(_ plan: Plan, _ manifests: ManifestSet, store: StateStore, snapshots: SnapshotStore) throws -> [DataChange] {
        var out: [DataChange] = []
        for action in plan.actions where action.kind == .train {
            guard let lineage = action.lineage, let latest = try store.versions(of: action.model).last,
                let recorded = Lineage.decode(latest.lineage)
            else { continue }
            var before: [String: SnapshotStore.Manifest] = [:]
            var after: [String: SnapshotStore.Manifest] = [:]
            var live: [String: String] = [:]
            for (name, fingerprint) in lineage.datasets.sorted(by: { $0.key < $1.key }) where recorded.datasets[name] != fingerprint {
                guard let was = recorded.datasets[name], let old = snapshots.manifest(was), let path = manifests.datasets[name]?.spec.source.path,
                    let now = SnapshotDiff.live(dataset: name, path: path, fingerprint: fingerprint, store: store)
                else { continue }
                before[name] = old
                after[name] = now
                live[name] = path
            }
            guard !before.isEmpty else { continue }
            let files = try SnapshotDiff.changes(from: before, to: after, in: snapshots, rows: 5, live: live)
            if !files.isEmpty { out.append(DataChange(model: action.model, since: latest.number, files: files)) }
        }
        return out
    }

    static func revision(_ r: Revision) -> Plan.Revision {
        Plan.Revision(source: r.source, commit: r.commit.id.hex, author: r.commit.author, subject: r.commit.subject)
    }
}
