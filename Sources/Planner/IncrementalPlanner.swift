import Foundation
import Lineage
import Manifests
import State
import Synchronization
import Targets

/// A planner that remembers its last plan, with what it was worked out
/// from and what it made of each object. The planner is a function of its
/// inputs: a controller loop with nothing new (the same desired state, and
/// observed state equal to the last) gets the same plan back; one whose
/// desired state was worked out from the last one, or whose observed state
/// moved on, revisits only the objects whose inputs changed instead of
/// 20,000 objects. The controller's reconciler owns one.
///
///     let planner = IncrementalPlanner()
///     let plan = planner.plan(desired: desired, observed: observed)
public final class IncrementalPlanner: Sendable {
    let memo: PlanMemo
    private let last = Mutex<Planner.Worked?>(nil)

    public init(memo: PlanMemo = PlanMemo()) {
        self.memo = memo
    }

    public func plan(desired: DesiredState, observed: ObservedState) -> Plan {
        let planner = Planner(desired: desired, observed: observed, memo: memo)
        let generation = desired.generation
        // Taken out of the memo while in use, so that its lists are updated
        // in place; two plans at once only cost the second one speed.
        var remembered: (worked: Planner.Worked?, same: Bool) = last.withLock { last in
            guard let worked = last else { return (nil, false) }
            if worked.generation == generation && worked.observed == observed { return (worked, true) }
            last = nil
            return (worked, false)
        }
        if remembered.same, let previous = remembered.worked { return planner.addingStages(to: previous.plan) }
        // Moved out, so that revisiting updates its lists in place rather
        // than copying 20,000 outcomes.
        let worked: Planner.Worked
        if var revisited = remembered.worked.take(), planner.revisit(&revisited) {
            worked = revisited
        } else {
            worked = planner.workOutAll()
        }
        last.withLock { $0 = worked }
        return planner.addingStages(to: worked.plan)
    }
}

extension Planner {
    /// A plan with what it was worked out from and each object's outcome.
    struct Worked {
        var generation: UInt64
        var commit: String
        var valid: Bool
        var names: ManifestSet.SortedNames
        var observed: ObservedState
        /// In the order of `names.models` and `names.deployments`.
        var models: [Outcome]
        var deployments: [Outcome]
        var pruned = Outcome()
        /// The model each Deployment pins, in the order of `names.deployments`,
        /// and the Deployments pinning each model, by index.
        var pinnedModel: [String]
        var pinnedBy: [String: [Int]]
        /// Models with a train action: it carries the commit.
        var trained: Set<String>
        var plan: Plan
    }

    func workOutAll() -> Worked {
        let manifests = desired.manifests
        var worked = Worked(
            generation: desired.generation, commit: desired.revision.commit.id.hex, valid: desired.revision.isValid,
            names: manifests.names, observed: observed, models: [], deployments: [], pinnedModel: [], pinnedBy: [:],
            trained: [],
            plan: Plan(
                revision: planRevision, diagnostics: desired.revision.diagnostics, actions: [],
                synced: [], blocked: []))
        guard worked.valid else { return worked }
        let names = manifests.names
        worked.models.reserveCapacity(names.models.count)
        for name in names.models {
            let outcome = modelOutcome(name)
            if outcome.pending != nil { worked.trained.insert(name) }
            worked.models.append(outcome)
        }
        worked.deployments.reserveCapacity(names.deployments.count)
        worked.pinnedModel.reserveCapacity(names.deployments.count)
        for (i, name) in names.deployments.enumerated() {
            let model = manifests.deployments[name]!.spec.model
            worked.pinnedModel.append(model)
            worked.pinnedBy[model, default: []].append(i)
            worked.deployments.append(deploymentOutcome(name, pending: Self.index(of: model, in: names.models).flatMap { worked.models[$0].pending }))
        }
        worked.pruned = pruneOutcome()
        worked.plan = assemble(worked)
        return worked
    }

    /// The last plan brought up to date by revisiting only the objects
    /// whose inputs changed; nil when that cannot be told.
    func revisit(_ last: Worked) -> Worked? {
        var worked = last
        return revisit(&worked) ? worked : nil
    }

    /// `worked`, the last plan's, brought up to date in place (its lists
    /// are not copied); false when that cannot be told, and `worked` is then
    /// of no use.
    func revisit(_ worked: inout Worked) -> Bool {
        let last = (
            generation: worked.generation, valid: worked.valid, names: worked.names, observed: worked.observed,
            commit: worked.commit, trained: worked.trained
        )
        let manifests = desired.manifests
        // The objects whose desired state changed.
        let changed: (models: Set<String>, deployments: Set<String>)
        if desired.generation == last.generation {
            changed = ([], [])
        } else if let delta = desired.delta, delta.base == last.generation {
            changed = (delta.models, delta.deployments)
        } else {
            return false
        }
        guard last.valid, desired.revision.isValid, manifests.names === last.names,
            observed.suspended == last.observed.suspended, observed.inFlight == last.observed.inFlight,
            let versions = observed.versionsChanged(since: last.observed)
        else { return false }
        let names = manifests.names
        worked.generation = desired.generation
        worked.commit = desired.revision.commit.id.hex
        worked.observed = observed

        var models = changed.models.union(versions)
        if worked.commit != last.commit { models.formUnion(last.trained) }
        // A changed Deployment changes its model's pins (which decide
        // promotions), and when it pins another model, that one's too.
        for name in changed.deployments {
            guard let i = Self.index(of: name, in: names.deployments) else { return false }
            let before = worked.pinnedModel[i]
            let after = manifests.deployments[name]!.spec.model
            models.formUnion([before, after])
            guard before != after else { continue }
            worked.pinnedBy[before]?.removeAll { $0 == i }
            worked.pinnedBy[after, default: []].append(i)
            worked.pinnedModel[i] = after
        }
        let records = Self.changedKeys(observed.deployments, last.observed.deployments)
        var deployments = changed.deployments.union(records.map(\.deployment))
            .union(Self.changedKeys(observed.observations, last.observed.observations).map(\.deployment))
            .union(Self.changedKeys(observed.holds, last.observed.holds))
        for name in models {
            guard let i = Self.index(of: name, in: names.models) else { continue }  // versions of a model Git no longer declares
            let outcome = modelOutcome(name)
            if outcome.pending != nil { worked.trained.insert(name) } else { worked.trained.remove(name) }
            worked.models[i] = outcome
            deployments.formUnion((worked.pinnedBy[name] ?? []).map { names.deployments[$0] })
        }
        for name in deployments {
            guard let i = Self.index(of: name, in: names.deployments) else { continue }  // a record Git no longer declares
            let model = worked.pinnedModel[i]
            worked.deployments[i] = deploymentOutcome(name, pending: Self.index(of: model, in: names.models).flatMap { worked.models[$0].pending })
        }
        // A Deployment that no longer lists a target prunes it there.
        if !records.isEmpty || !changed.deployments.isEmpty { worked.pruned = pruneOutcome() }
        worked.plan = assemble(worked)
        return true
    }

    /// The plan in its order: trains, promotions (after a training, then
    /// retries), deploys and prunes, each in the order of the names; then
    /// what is in sync, and the warnings, in the order of the objects.
    func assemble(_ worked: Worked) -> Plan {
        var actions: [Action] = []
        var inSync: [Note] = []
        var warnings: [Note] = []
        for o in worked.models where o.pending != nil { actions.append(o.actions[0]) }
        for o in worked.models where o.pending != nil && o.actions.count > 1 { actions.append(contentsOf: o.actions.dropFirst()) }
        for o in worked.models where o.pending == nil && !o.actions.isEmpty { actions.append(contentsOf: o.actions) }
        for o in worked.deployments where !o.actions.isEmpty { actions.append(contentsOf: o.actions) }
        actions.append(contentsOf: worked.pruned.actions)
        inSync.reserveCapacity(worked.models.count + worked.deployments.count)
        for o in worked.models { if let line = o.inSync { inSync.append(line) } }
        for o in worked.deployments { if let line = o.inSync { inSync.append(line) } }
        for o in worked.models where !o.warnings.isEmpty { warnings.append(contentsOf: o.warnings) }
        for o in worked.deployments where !o.warnings.isEmpty { warnings.append(contentsOf: o.warnings) }
        warnings.append(contentsOf: worked.pruned.warnings)
        return Plan(revision: planRevision, diagnostics: [], actions: actions, synced: inSync, blocked: warnings)
    }

    /// The keys whose values differ between `a` and `b`, or that only one has.
    static func changedKeys<Key: Hashable, Value: Equatable>(_ a: [Key: Value], _ b: [Key: Value]) -> Set<Key> {
        guard a != b else { return [] }
        var keys = Set(a.compactMap { b[$0.key] != $0.value ? $0.key : nil })
        for key in b.keys where a[key] == nil { keys.insert(key) }
        return keys
    }

    /// The position of `name` in sorted `names`.
    static func index(of name: String, in names: [String]) -> Int? {
        var low = 0
        var high = names.count
        while low < high {
            let mid = (low + high) / 2
            if names[mid] < name { low = mid + 1 } else { high = mid }
        }
        return low < names.count && names[low] == name ? low : nil
    }
}
