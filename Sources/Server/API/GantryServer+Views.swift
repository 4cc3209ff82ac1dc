import Controller
import Foundation
import Lineage
import Planner
import State

/// The views the API answers and the dashboard draws, built from the store
/// (history, versions, what serves) and the loop's latest assessment
/// (desired state, observations, the pending plan).
extension GantryServer {
    func statusView() -> StatusView {
        let s = status.snapshot
        return StatusView(
            source: s.source, startedAt: s.startedAt, ready: s.ready, stopping: s.stopping, loops: s.loops,
            revision: s.plan?.revision, revisionValid: s.plan?.isValid, lastFetchAt: s.lastFetchAt,
            assessedAt: s.assessedAt, lastResult: s.lastResult, lastError: s.lastError,
            health: s.health, degradedSince: s.degradedSince,
            pendingActions: s.plan?.actions.count ?? 0, lastWakeup: s.lastWakeup)
    }

    func suspensions() throws -> [String: SuspensionRecord] {
        Dictionary(try store.suspensions().map { ($0.object, $0) }, uniquingKeysWith: { a, _ in a })
    }

    func modelViews() throws -> [ModelView] {
        let snapshot = status.snapshot
        let suspended = try suspensions()
        let byModel = try store.versionsByModel()
        let served = try store.deployments()
        var names = Set(byModel.keys)
        if let models = snapshot.assessment?.desired.manifests.models.keys { names.formUnion(models) }
        return names.sorted().map { name in
            let versions = (byModel[name] ?? []).map { v in
                VersionView(v, servedBy: served.filter { $0.model == name && $0.version == v.number }.map(\.name))
            }
            return ModelView(
                name: name, sync: SyncState.of("Model/\(name)", in: snapshot.plan), suspended: suspended["Model/\(name)"],
                latestVersion: versions.last?.number, versions: versions)
        }
    }

    func lineageView(model: String, number: Int) throws -> LineageView? {
        guard let version = try store.version(model, number) else { return nil }
        let served = try store.deployments().filter { $0.model == model && $0.version == number }.map(\.name)
        let lineage = Lineage.decode(version.lineage)
        let parent = try store.versions(of: model).last { $0.number < number }
        var changes: [String] = []
        var data: [SnapshotDiff.FileChange]?
        if let lineage, let p = parent.flatMap({ Lineage.decode($0.lineage) }) {
            changes = lineage.changes(since: p, triggers: nil)
            data = SnapshotDiff.sinceParent(lineage, p, in: SnapshotStore(root: reconciler.workspace.snapshots))
        }
        return LineageView(
            version: VersionView(version, servedBy: served), lineage: lineage, parent: parent?.number,
            changesSinceParent: parent == nil ? ["first version"] : (changes.isEmpty ? ["retrained"] : changes), dataChanges: data)
    }

    func deploymentViews() throws -> [DeploymentView] {
        let snapshot = status.snapshot
        let suspended = try suspensions()
        var records: [String: [DeploymentRecord]] = [:]
        for record in try store.deployments() { records[record.name, default: []].append(record) }
        let desired = snapshot.assessment?.desired.manifests.deployments ?? [:]
        let observations = snapshot.assessment?.observed.observations ?? [:]
        return Set(records.keys).union(desired.keys).sorted().map { name in
            let served = records[name] ?? []
            let spec = desired[name]?.spec
            // Git's targets in Git's order, then any it no longer lists.
            let listed = spec?.targets.map(\.target) ?? []
            let names = listed + served.map(\.target).filter { !listed.contains($0) }
            var drift: [DriftField] = []
            let targets = names.map { target -> DeploymentTargetView in
                let record = served.first { $0.target == target }
                let seen = observations[Slot(name, target)]
                var fields: [DriftField] = []
                if let spec, listed.contains(target) {
                    fields = Drift.fields(spec: spec.placed(on: target), record: record, observed: seen)
                    if names.count > 1 {
                        fields = fields.map { f in
                            var f = f
                            f.field = "\(target): \(f.field)"
                            return f
                        }
                    }
                }
                drift += fields
                return DeploymentTargetView(
                    target: target, servedVersion: record?.version, address: record?.address ?? spec?.placed(on: target).address,
                    health: HealthState.of(seen, deployed: record != nil),
                    drifted: listed.contains(target) ? fields.contains { !$0.inSync } : record != nil)
            }
            let versions = Set(targets.map(\.servedVersion))
            return DeploymentView(
                name: name, model: spec?.model ?? served.first?.model ?? "", pinnedVersion: spec?.version,
                servedVersion: versions.count == 1 ? versions.first! : nil, target: names.first ?? "local",
                address: targets.first?.address, sync: SyncState.of("Deployment/\(name)", in: snapshot.plan),
                health: HealthState.worst(targets.map { ($0.target, $0.health) }),
                drifted: targets.contains { $0.drifted }, drift: drift,
                suspended: suspended["Deployment/\(name)"], targets: targets)
        }
    }

    func objectViews() throws -> [ObjectView] {
        try modelViews().map { ObjectView(kind: "Model", name: $0.name, sync: $0.sync, health: nil, suspended: $0.suspended) }
            + deploymentViews().map { ObjectView(kind: "Deployment", name: $0.name, sync: $0.sync, health: $0.health, suspended: $0.suspended) }
    }

    /// Every object for `gantry_object_info`: a Model's version is its
    /// latest, a Deployment's the one it serves (or its pin while its
    /// targets differ); "" where there is none.
    func objectInfos() throws -> [ControllerMetrics.ObjectInfo] {
        try modelViews().map {
            ControllerMetrics.ObjectInfo(
                kind: "Model", name: $0.name, sync: $0.sync.status.rawValue, health: "", version: $0.latestVersion.map(String.init) ?? "")
        }
            + deploymentViews().map {
                ControllerMetrics.ObjectInfo(
                    kind: "Deployment", name: $0.name, sync: $0.sync.status.rawValue, health: $0.health.status.rawValue,
                    version: ($0.servedVersion ?? $0.pinnedVersion).map(String.init) ?? "")
            }
    }

    func planView() -> PlanView {
        let s = status.snapshot
        return PlanView(assessedAt: s.assessedAt, plan: s.plan, text: s.plan?.text)
    }
}
