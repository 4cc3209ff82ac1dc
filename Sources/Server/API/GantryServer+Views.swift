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
        if let lineage, let p = parent.flatMap({ Lineage.decode($0.lineage) }) {
            changes = lineage.changes(since: p, triggers: nil)
        }
        return LineageView(
            version: VersionView(version, servedBy: served), lineage: lineage, parent: parent?.number,
            changesSinceParent: parent == nil ? ["first version"] : (changes.isEmpty ? ["retrained"] : changes))
    }

    func deploymentViews() throws -> [DeploymentView] {
        let snapshot = status.snapshot
        let suspended = try suspensions()
        let records = Dictionary(try store.deployments().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let desired = snapshot.assessment?.desired.manifests.deployments ?? [:]
        let observations = snapshot.assessment?.observed.observations ?? [:]
        return Set(records.keys).union(desired.keys).sorted().map { name in
            let record = records[name]
            let spec = desired[name]?.spec
            let drift = spec.map { Drift.fields(spec: $0, record: record, observed: observations[name]) } ?? []
            return DeploymentView(
                name: name, model: spec?.model ?? record?.model ?? "", pinnedVersion: spec?.version,
                servedVersion: record?.version, target: record?.target ?? spec?.targets.first?.target ?? "local",
                address: record?.address ?? spec?.address, sync: SyncState.of("Deployment/\(name)", in: snapshot.plan),
                health: HealthState.of(observations[name], deployed: record != nil),
                drifted: spec == nil ? record != nil : drift.contains { !$0.inSync }, drift: drift,
                suspended: suspended["Deployment/\(name)"])
        }
    }

    func objectViews() throws -> [ObjectView] {
        try modelViews().map { ObjectView(kind: "Model", name: $0.name, sync: $0.sync, health: nil, suspended: $0.suspended) }
            + deploymentViews().map { ObjectView(kind: "Deployment", name: $0.name, sync: $0.sync, health: $0.health, suspended: $0.suspended) }
    }

    func planView() -> PlanView {
        let s = status.snapshot
        return PlanView(assessedAt: s.assessedAt, plan: s.plan, text: s.plan?.text)
    }
}
