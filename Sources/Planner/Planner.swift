import Foundation
import Lineage
import Manifests
import State
import Synchronization
import Targets

/// The rules: what each object needs, from desired against observed
/// state. Pure: no I/O, no clock; what it remembers between plans (decoded
/// lineages, spec digests) is the `memo` it is handed. A controller keeps
/// an `IncrementalPlanner`, which revisits only what changed.
///
///     let plan = Planner(desired: desired, observed: observed).plan()
public struct Planner: Sendable {
    public let desired: DesiredState
    public let observed: ObservedState
    let memo: PlanMemo
    /// The versions Git pins, by model: built on the first question, once
    /// per plan, instead of a scan of every Deployment for each model.
    let pinIndex = PinIndex()

    public init(desired: DesiredState, observed: ObservedState, memo: PlanMemo = PlanMemo()) {
        self.desired = desired
        self.observed = observed
        self.memo = memo
    }

    /// The plan from scratch, visiting every object.
    public func plan() -> Plan { addingStages(to: workOutAll().plan) }

    public static func trainKey(model: String, digest: String) -> String { "train:\(model):\(digest)" }

    /// The digest that decides whether a Deployment's serving process must be
    /// replaced although the version did not change.
    public static func specDigest(_ spec: DeploymentSpec) -> String {
        "sha256:" + Digest.sha256(Digest.canonicalJSON(PlanMemo.Serving(spec)))
    }

    /// The versions Git pins for a model, over the Deployments its
    /// promotion moves (a later stage takes its version from another).
    func pins(_ model: String) -> [Int] {
        pinIndex.pins(model, in: desired.manifests.deployments)
    }

    /// The warning a suspended object gets instead of its actions, or nil.
    func suspendedNote(_ object: String, wouldDo: String) -> Note? {
        guard let s = observed.suspended[object] else { return nil }
        return Note(object, .suspended(actor: s.actor, reason: s.reason, leftUndone: wouldDo))
    }

    /// What the planner made of one object.
    struct Outcome {
        var actions: [Action] = []
        var warnings: [Note] = []
        var inSync: Note?
        /// For a model: the version its train action will produce.
        var pending: Int?
    }

    var planRevision: Plan.Revision {
        let c = desired.revision.commit
        return Plan.Revision(source: desired.revision.source, commit: c.id.hex, author: c.author, subject: c.subject)
    }

    /// A model's train and promote actions, or why it is in sync or left alone.
    func modelOutcome(_ name: String) -> Outcome {
        var outcome = trainOutcome(name)
        if outcome.pending == nil, let retry = retriedPromotion(name) { outcome.actions.append(retry) }
        return outcome
    }

    private func trainOutcome(_ name: String) -> Outcome {
        var outcome = Outcome()
        let state = desired.models[name]!
        // The digest, not the lineage, is checked: reading the optional
        // lineage copies it, which retains each of its strings.
        guard let digest = state.digest else {
            outcome.warnings.append(Note("Model/\(name)", .noLineage(problem: state.problem ?? "unknown problem")))
            return outcome
        }
        if !observed.suspended.isEmpty, let note = suspendedNote("Model/\(name)", wouldDo: "not retrained") {
            outcome.warnings.append(note)
            return outcome
        }
        let manifests = desired.manifests
        if let type = manifests.targetType(state.entry.spec.target), !Drivers.supports(type, .train) {
            outcome.warnings.append(Note("Model/\(name)", .unsupportedTarget(.train, target: state.entry.spec.target, type: type.rawValue)))
            return outcome
        }
        let versions = observed.versions[name] ?? []
        let triggers = state.entry.spec.triggers
        // A version with the same digest has the same lineage on every
        // input; only other versions are decoded and compared input by
        // input (for triggers that are off).
        // An index, not the record: a copied record retains each of its
        // strings.
        if let match = versions.lastIndex(where: { v in
            v.digest == digest || (memo.lineage(of: v).map { state.lineage!.matches($0, triggers: triggers) } ?? false)
        }) {
            outcome.inSync = Note("Model/\(name)", .lineageMatches(version: versions[match].number))
            return outcome
        }
        // At this revision's commit (a carried-over state keeps the
        // commit it was worked out at).
        var lineage = state.lineage!
        lineage.commit = desired.revision.commit.id.hex
        let next = (versions.map(\.number).max() ?? 0) + 1
        var reason: String
        if let latest = versions.last, let previous = memo.lineage(of: latest) {
            reason = lineage.changes(since: previous, triggers: triggers).joined(separator: "; ")
            reason += " since v\(latest.number)"
        } else {
            reason = "no version yet"
        }
        if observed.inFlight.contains(Self.trainKey(model: name, digest: digest)) {
            reason += " (a run of this lineage is in flight and will be adopted)"
        }
        outcome.pending = next
        outcome.actions.append(Action(.train(model: name, version: next, target: state.entry.spec.target, lineage: lineage), reason: reason))
        if let policy = state.entry.spec.promotion?.policy, pins(name).contains(where: { $0 < next }) {
            outcome.actions.append(
                Action(
                    .promote(model: name, version: next),
                    reason: "policy \(policy.rawValue): pin v\(next) if it passes its gates"))
        }
        return outcome
    }

    /// Promotion follows a training; only one whose write-back failed (an
    /// unreachable remote, say) is tried again. A version pinned back by
    /// hand is not proposed again.
    private func retriedPromotion(_ name: String) -> Action? {
        guard let state = desired.models[name], observed.suspended["Model/\(name)"] == nil,
            let policy = state.entry.spec.promotion?.policy, let latest = observed.versions[name]?.last,
            latest.gatesPassed, latest.promotion.hasPrefix("failed"), pins(name).contains(where: { $0 < latest.number })
        else { return nil }
        return Action(
            .promote(model: name, version: latest.number),
            reason: "policy \(policy.rawValue): retry writing the pin bump of v\(latest.number) (\(latest.promotion))")
    }

    /// A Deployment's deploy or rollout action, or why it is in sync or
    /// left alone. `pending` is the version a train action of its model
    /// will produce.
    func deploymentOutcome(_ name: String, pending: Int?) -> Outcome {
        var outcome = Outcome()
        let manifests = desired.manifests
        let deployment = manifests.deployments[name]!
        let spec = deployment.spec
        let object = "Deployment/\(name)"
        if !observed.suspended.isEmpty, let note = suspendedNote(object, wouldDo: "not deployed or repaired") {
            outcome.warnings.append(note)
            return outcome
        }
        for placement in spec.targets {
            if let type = manifests.targetType(placement.target), !Drivers.supports(type, .serve) {
                outcome.warnings.append(Note(object, .unsupportedTarget(.serve, target: placement.target, type: type.rawValue)))
                return outcome
            }
        }
        let versions = observed.versions[spec.model] ?? []
        // An index, not a copy of the record (see the models above).
        let pinned = versions.firstIndex { $0.number == spec.version }
        if pinned == nil, pending != spec.version {
            outcome.warnings.append(Note(object, .missingVersion(model: spec.model, version: spec.version, latest: versions.map(\.number).max())))
            return outcome
        }
        if let pinned, !versions[pinned].gatesPassed {
            outcome.warnings.append(Note(object, .pinnedFailsGates(model: spec.model, version: spec.version, report: versions[pinned].gateReport)))
        }
        if !observed.holds.isEmpty, let hold = observed.holds[name], hold.holds(spec, digest: memo.specDigest(spec)) {
            return heldOutcome(name, spec, hold)
        }
        // What each target needs, in the order its waves move.
        var moves: [String: (move: Action.Move, reason: String)] = [:]
        for placement in spec.targets {
            let slot = Slot(name, placement.target)
            let record = observed.deployments[slot]
            if let reason = repair(slot, record, spec.placed(on: placement.target), produced: pinned == nil) {
                moves[placement.target] = (Action.Move(target: placement.target, fromVersion: record?.version), reason)
            }
        }
        if moves.isEmpty {
            let addresses = spec.targets.compactMap { observed.deployments[Slot(name, $0.target)]?.address }
            outcome.inSync = Note(object, .serves(model: spec.model, version: spec.version, address: addresses.joined(separator: ", ")))
            return outcome
        }
        if moves.count == 1, let (move, reason) = moves.values.first {
            outcome.actions.append(
                Action(
                    .deploy(deployment: name, model: spec.model, version: spec.version, fromVersion: move.fromVersion, target: move.target),
                    reason: spec.targets.count == 1 ? reason : "\(move.target): \(reason)"))
            return outcome
        }
        let waves = spec.waves.map { $0.compactMap { moves[$0]?.move } }.filter { !$0.isEmpty }
        let reason = waves.joined().map { "\($0.target): \(moves[$0.target]!.reason)" }.joined(separator: "; ")
        outcome.actions.append(Action(.rollout(deployment: name, model: spec.model, version: spec.version, waves: waves, rollingBack: false), reason: reason))
        return outcome
    }

    /// Why one target must be deployed again, or nil when it serves as
    /// `spec` (that target's) says. `produced`: the pinned version is the one
    /// a train action above will produce.
    private func repair(_ slot: Slot, _ record: DeploymentRecord?, _ spec: DeploymentSpec, produced: Bool) -> String? {
        guard let record else { return "not deployed; pinned \(spec.version)" + (produced ? ", produced by the train above" : "") }
        let seen = observed.observations[slot]
        if record.version != spec.version { return "pinned \(spec.version), serving \(record.version)" }
        if record.specDigest != memo.specDigest(spec) { return "serve spec changed" }
        if seen?.serving != true { return "\(seen?.detail ?? "not observed") (drift)" }
        // Each driver says what it saw: an alias moved by hand, an address
        // forwarded elsewhere, an endpoint on another config.
        if seen?.forwarding != true { return "\(seen?.detail ?? "stable address \(record.address) is not forwarded") (drift)" }
        if seen?.healthy == false { return "\(seen?.detail ?? "unhealthy") (drift)" }
        return nil
    }

    /// A Deployment whose pinned version failed its rollout: the targets
    /// that took it go back to the version before (with autoRollback), and
    /// it is not tried again until Git changes.
    private func heldOutcome(_ name: String, _ spec: DeploymentSpec, _ hold: HoldRecord) -> Outcome {
        var outcome = Outcome()
        let object = "Deployment/\(name)"
        // Frozen: each target stays where the failure left it, not moved or
        // repaired, until Git changes.
        let rollsBack = spec.autoRollback == true && spec.strategy?.onFailure != .freeze && hold.previous != nil
        outcome.warnings.append(
            Note(object, .held(model: spec.model, version: hold.version, previous: hold.previous, reason: hold.reason, rollsBack: rollsBack)))
        guard rollsBack, let previous = hold.previous else { return outcome }
        // Back on `previous`: what still serves the held version, and a
        // target on `previous` whose server died or went unhealthy (repaired
        // with the serve spec Git has now, as any drift is).
        var back: [Action.Move] = []
        var drifted: [String] = []
        for placement in spec.targets {
            let slot = Slot(name, placement.target)
            guard let record = observed.deployments[slot] else { continue }
            let seen = observed.observations[slot]
            if record.version == hold.version {
                back.append(Action.Move(target: placement.target, fromVersion: record.version))
            } else if record.version == previous, seen?.serving != true || seen?.forwarding != true || seen?.healthy == false {
                back.append(Action.Move(target: placement.target, fromVersion: record.version))
                drifted.append("\(placement.target): \(seen?.detail ?? "not observed") (drift)")
            }
        }
        if !back.isEmpty {
            outcome.actions.append(
                Action(
                    .rollout(deployment: name, model: spec.model, version: previous, waves: [back], rollingBack: true),
                    reason: (["v\(hold.version) failed its rollout (\(hold.reason))"] + drifted).joined(separator: "; ")))
        }
        return outcome
    }

    /// Deployments recorded as serving that Git no longer declares.
    func pruneOutcome() -> Outcome {
        var outcome = Outcome()
        let manifests = desired.manifests
        for (slot, record) in observed.deployments.sorted(by: { $0.key < $1.key }) {
            let declared = manifests.deployments[slot.deployment]
            if let declared, declared.spec.targets.contains(where: { $0.target == slot.target }) { continue }
            if let note = suspendedNote("Deployment/\(slot.deployment)", wouldDo: "not pruned although Git no longer declares it") {
                outcome.warnings.append(note)
                continue
            }
            let gone = declared == nil ? "no longer in Git" : "target \(slot.target) no longer listed"
            outcome.actions.append(
                Action(
                    .prune(deployment: slot.deployment, model: record.model, version: record.version, target: record.target),
                    reason: "\(gone); stop serving \(record.model)@\(record.version) at \(record.address)"))
        }
        return outcome
    }

    /// `plan` with the later stages' promotions, or why each waits. They
    /// depend on the clock, so every plan works them out afresh, visiting
    /// only the Deployments that have a `promotion`.
    func addingStages(to plan: Plan) -> Plan {
        guard plan.isValid, !desired.manifests.stages.isEmpty else { return plan }
        var plan = plan
        for name in desired.manifests.stages.keys.sorted() {
            let object = "Deployment/\(name)"
            guard let entry = desired.manifests.deployments[name], let promotion = entry.spec.promotion,
                observed.suspended[object] == nil,
                let source = desired.manifests.deployments[promotion.from], source.spec.version > entry.spec.version
            else { continue }
            let model = entry.spec.model
            let version = source.spec.version
            if let why = stageWaits(name, promotion, source) {
                plan.blocked.append(Note(object, .waitsForStage(from: promotion.from, version: version, why: why)))
                continue
            }
            let soak = promotion.soak.map { " for at least \($0)" } ?? ""
            plan.actions.append(
                Action(
                    .promoteStage(deployment: name, model: model, version: version, from: promotion.from),
                    reason: "Deployment/\(promotion.from) serves v\(version) live and healthy on every target\(soak)"))
        }
        plan.actions.sort { $0.kind < $1.kind }
        return plan
    }

    /// Why `name` cannot take `source`'s version yet, or nil when it can.
    func stageWaits(_ name: String, _ promotion: StagePromotion, _ source: Entry<DeploymentSpec>) -> String? {
        let version = source.spec.version
        let from = promotion.from
        if let record = observed.versions[source.spec.model]?.first(where: { $0.number == version }) {
            if record.promotion.contains(StagePromotion.marker(name)) {
                return "the pin proposed before is merged (\(record.promotion))"
            }
            let failing = (promotion.gates ?? []).compactMap(MetricGate.init(parsing:)).filter { gate in
                !(record.metricValues[gate.metric].map(gate.passes) ?? false)
            }
            if !failing.isEmpty { return "v\(version) passes \(failing.map(\.description).joined(separator: ", ")) (it does not)" }
        }
        if let hold = observed.holds[from], hold.version == version { return "v\(version) passes its rollout on \(from) (it failed: \(hold.reason))" }
        var since = Date.distantPast
        for placement in source.spec.targets {
            let slot = Slot(from, placement.target)
            guard let record = observed.deployments[slot], record.version == version else {
                return "\(from) serves v\(version) on \(placement.target) (it serves \(observed.deployments[slot].map { "v\($0.version)" } ?? "nothing"))"
            }
            let seen = observed.observations[slot]
            guard seen?.serving == true, seen?.forwarding == true, seen?.healthy != false else {
                return "\(from) serves v\(version) live and healthy on \(placement.target) (\(seen?.detail ?? "not observed"))"
            }
            since = max(since, record.updatedAt)
        }
        let soak = promotion.soak?.seconds ?? 0
        let served = observed.now.timeIntervalSince(since)
        if served < soak {
            return "\(from) has served v\(version) for \(promotion.soak!) (\(TimeSpan(seconds: max(0, served))) so far)"
        }
        return nil
    }
}

extension StagePromotion {
    /// What a stage promotion's outcome starts with in the version's
    /// `promotion` record, so that a later plan does not propose it again.
    public static func marker(_ deployment: String) -> String { "stage \(deployment): " }
}

/// Pinned versions by model, over the Deployments a model's promotion
/// moves (not later stages), worked out once per plan.
final class PinIndex: Sendable {
    private let state = Mutex<(index: [String: [Int]]?, visits: Int)>((nil, 0))

    /// Deployments read to build the index: each once per plan.
    var visits: Int { state.withLock { $0.visits } }

    func pins(_ model: String, in deployments: [String: Entry<DeploymentSpec>]) -> [Int] {
        state.withLock { state in
            if state.index == nil {
                var built: [String: [Int]] = [:]
                for d in deployments.values where d.spec.promotion == nil { built[d.spec.model, default: []].append(d.spec.version) }
                state = (built, state.visits + deployments.count)
            }
            return state.index?[model] ?? []
        }
    }
}
