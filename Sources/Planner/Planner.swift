import Foundation
import Synchronization
import Lineage
import Manifests
import State
import Targets

/// Observed state: what the state store and the drivers report.
public struct ObservedState: Sendable, Equatable {
    /// Setting these drops `versionsStamp`: it stands for what was read.
    public var versions: [String: [VersionRecord]] { didSet { versionsStamp = nil } }
    public var deployments: [String: DeploymentRecord]
    public var observations: [String: ObservedDeployment]
    /// Keys of launches in flight (open intents).
    public var inFlight: Set<String>
    /// Objects an operator suspended (`Deployment/churn-prod`), by object.
    public var suspended: [String: SuspensionRecord]
    /// Where the store's versions stood when `versions` was read, when they
    /// were read from a store: two stamps tell which models' versions
    /// changed in between without comparing 10,000 lists.
    public var versionsStamp: VersionsStamp?

    public init(versions: [String: [VersionRecord]], deployments: [String: DeploymentRecord],
                observations: [String: ObservedDeployment], inFlight: Set<String>,
                suspended: [String: SuspensionRecord] = [:], versionsStamp: VersionsStamp? = nil) {
        self.versions = versions
        self.deployments = deployments
        self.observations = observations
        self.inFlight = inFlight
        self.suspended = suspended
        self.versionsStamp = versionsStamp
    }

    /// Equal stamps stand for equal versions; without stamps the versions
    /// themselves are compared.
    public static func == (a: ObservedState, b: ObservedState) -> Bool {
        let sameVersions = a.versionsStamp != nil && a.versionsStamp == b.versionsStamp
        return (sameVersions || a.versions == b.versions) && a.deployments == b.deployments && a.observations == b.observations
            && a.inFlight == b.inFlight && a.suspended == b.suspended
    }

    /// The models whose versions may differ from `earlier`'s: nil when the
    /// stamps cannot tell.
    func versionsChanged(since earlier: ObservedState) -> Set<String>? {
        guard let now = versionsStamp, let then = earlier.versionsStamp else { return nil }
        return now.changed(since: then)
    }
}

/// Diffs desired against observed state. Pure: no I/O, no clock.
public struct Planner: Sendable {
    public let desired: DesiredState
    public let observed: ObservedState

    public init(desired: DesiredState, observed: ObservedState) {
        self.desired = desired
        self.observed = observed
    }

    public static func trainKey(model: String, digest: String) -> String { "train:\(model):\(digest)" }

    /// The digest that decides whether a Deployment's serving process must be
    /// replaced although the version did not change.
    public static func specDigest(_ spec: DeploymentSpec) -> String {
        let serving = Serving(serve: spec.serve, address: spec.address, healthCheck: spec.healthCheck)
        // Every plan compares every Deployment's digest; hashing the spec is
        // far cheaper than its canonical JSON and SHA-256.
        if let known = specDigests.withLock({ $0[serving] }) { return known }
        let digest = "sha256:" + Digest.sha256(Digest.canonicalJSON(serving))
        specDigests.withLock { known in
            if known.count >= 100_000 { known.removeAll() }
            known[serving] = digest
        }
        return digest
    }

    private struct Serving: Encodable, Hashable {
        var serve: Serve
        var address: String?
        var healthCheck: HealthCheck?
    }

    private static let specDigests = Mutex<[Serving: String]>([:])

    /// The versions Git pins for a model, over all its Deployments.
    func pins(_ model: String) -> [Int] {
        desired.manifests.deployments.values.filter { $0.spec.model == model }.map(\.spec.version)
    }

    /// The warning a suspended object gets instead of its actions, or nil.
    func suspendedLine(_ object: String, wouldDo: String) -> String? {
        guard let s = observed.suspended[object] else { return nil }
        let why = s.reason.isEmpty ? "" : " (\(s.reason))"
        return "\(object): suspended by \(s.actor)\(why); left alone until resumed, \(wouldDo)"
    }

    /// The last plan, with what it was worked out from and what it made
    /// of each object. The planner is a function of its inputs: a
    /// controller loop with nothing new (the same desired state, and
    /// observed state equal to the last) gets the same plan back; one whose
    /// desired state was worked out from the last one, or whose observed
    /// state moved on, revisits only the objects whose inputs changed
    /// instead of 20,000 objects.
    private static let last = Mutex<Worked?>(nil)

    public func plan() -> Plan {
        let generation = desired.generation
        // Taken out of the memo while in use, so that its lists are updated
        // in place; two plans at once only cost the second one speed.
        let (previous, same): (Worked?, Bool) = Self.last.withLock { last in
            guard let worked = last else { return (nil, false) }
            if worked.generation == generation && worked.observed == observed { return (worked, true) }
            last = nil
            return (worked, false)
        }
        if let previous, same { return previous.plan }
        let worked = previous.flatMap { revisit($0) } ?? workOutAll()
        Self.last.withLock { $0 = worked }
        return worked.plan
    }

    /// The plan from scratch, visiting every object.
    func workOut() -> Plan { workOutAll().plan }

    /// What the planner made of one object.
    struct Outcome {
        var actions: [Action] = []
        var warnings: [String] = []
        var inSync: String?
        /// For a model: the version its train action will produce.
        var pending: Int?
    }

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

    private var planRevision: Plan.Revision {
        let c = desired.revision.commit
        return Plan.Revision(source: desired.revision.source, commit: c.id.hex, author: c.author, subject: c.subject)
    }

    func workOutAll() -> Worked {
        let manifests = desired.manifests
        var worked = Worked(generation: desired.generation, commit: desired.revision.commit.id.hex, valid: desired.revision.isValid,
                            names: manifests.names, observed: observed, models: [], deployments: [], pinnedModel: [], pinnedBy: [:],
                            trained: [], plan: Plan(revision: planRevision, diagnostics: desired.revision.diagnostics, actions: [],
                                                    inSync: [], warnings: []))
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
        let manifests = desired.manifests
        // The objects whose desired state changed.
        let changed: (models: Set<String>, deployments: Set<String>)
        if desired.generation == last.generation {
            changed = ([], [])
        } else if let delta = desired.delta, delta.base == last.generation {
            changed = (delta.models, delta.deployments)
        } else {
            return nil
        }
        guard last.valid, desired.revision.isValid, manifests.names === last.names,
              observed.suspended == last.observed.suspended, observed.inFlight == last.observed.inFlight,
              let versions = observed.versionsChanged(since: last.observed) else { return nil }
        let names = manifests.names
        var worked = last
        worked.generation = desired.generation
        worked.commit = desired.revision.commit.id.hex
        worked.observed = observed

        var models = changed.models.union(versions)
        if worked.commit != last.commit { models.formUnion(last.trained) }
        // A changed Deployment changes its model's pins (which decide
        // promotions), and when it pins another model, that one's too.
        for name in changed.deployments {
            guard let i = Self.index(of: name, in: names.deployments) else { return nil }
            let before = worked.pinnedModel[i], after = manifests.deployments[name]!.spec.model
            models.formUnion([before, after])
            guard before != after else { continue }
            worked.pinnedBy[before]?.removeAll { $0 == i }
            worked.pinnedBy[after, default: []].append(i)
            worked.pinnedModel[i] = after
        }
        let records = Self.changedKeys(observed.deployments, last.observed.deployments)
        var deployments = changed.deployments.union(records)
            .union(Self.changedKeys(observed.observations, last.observed.observations))
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
        if !records.isEmpty { worked.pruned = pruneOutcome() }
        worked.plan = assemble(worked)
        return worked
    }

    /// The plan in its order: trains, promotions (after a training, then
    /// retries), deploys and prunes, each in the order of the names; then
    /// what is in sync, and the warnings, in the order of the objects.
    func assemble(_ worked: Worked) -> Plan {
        var actions: [Action] = []
        var inSync: [String] = []
        var warnings: [String] = []
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
        return Plan(revision: planRevision, diagnostics: [], actions: actions, inSync: inSync, warnings: warnings)
    }

    /// The keys whose values differ between `a` and `b`, or that only one has.
    static func changedKeys<Value: Equatable>(_ a: [String: Value], _ b: [String: Value]) -> Set<String> {
        guard a != b else { return [] }
        var keys = Set(a.compactMap { b[$0.key] != $0.value ? $0.key : nil })
        for key in b.keys where a[key] == nil { keys.insert(key) }
        return keys
    }

    /// The position of `name` in sorted `names`.
    static func index(of name: String, in names: [String]) -> Int? {
        var low = 0, high = names.count
        while low < high {
            let mid = (low + high) / 2
            if names[mid] < name { low = mid + 1 } else { high = mid }
        }
        return low < names.count && names[low] == name ? low : nil
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
            outcome.warnings.append("Model/\(name): cannot compute lineage: \(state.problem ?? "unknown problem")")
            return outcome
        }
        if !observed.suspended.isEmpty, let line = suspendedLine("Model/\(name)", wouldDo: "not retrained") {
            outcome.warnings.append(line)
            return outcome
        }
        let manifests = desired.manifests
        if let type = manifests.targetType(state.entry.spec.target), !Drivers.supports(type, .train) {
            outcome.warnings.append("Model/\(name): target \(state.entry.spec.target) is of a type this build cannot train on (\(type.rawValue))")
            return outcome
        }
        let versions = observed.versions[name] ?? []
        let triggers = state.entry.spec.triggers
        let memo = LineageMemo.shared
        // A version with the same digest has the same lineage on every
        // input; only other versions are decoded and compared input by
        // input (for triggers that are off).
        // An index, not the record: a copied record retains each of its
        // strings.
        if let match = versions.lastIndex(where: { v in
            v.digest == digest || (memo.lineage(of: v).map { state.lineage!.matches($0, triggers: triggers) } ?? false)
        }) {
            outcome.inSync = "Model/\(name): v\(versions[match].number) matches the current lineage"
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
        outcome.actions.append(Action(kind: .train, object: "Model/\(name)", reason: reason, model: name, version: next,
                                      target: state.entry.spec.target, lineage: lineage))
        if let policy = state.entry.spec.promotion?.policy, pins(name).contains(where: { $0 < next }) {
            outcome.actions.append(Action(kind: .promote, object: "Model/\(name)",
                                          reason: "policy \(policy.rawValue): pin v\(next) if it passes its gates", model: name, version: next))
        }
        return outcome
    }

    /// Promotion follows a training; only one whose write-back failed (an
    /// unreachable remote, say) is tried again. A version pinned back by
    /// hand is not proposed again.
    private func retriedPromotion(_ name: String) -> Action? {
        guard let state = desired.models[name], observed.suspended["Model/\(name)"] == nil,
              let policy = state.entry.spec.promotion?.policy, let latest = observed.versions[name]?.last,
              latest.gatesPassed, latest.promotion.hasPrefix("failed"), pins(name).contains(where: { $0 < latest.number }) else { return nil }
        return Action(kind: .promote, object: "Model/\(name)",
                      reason: "policy \(policy.rawValue): retry writing the pin bump of v\(latest.number) (\(latest.promotion))",
                      model: name, version: latest.number)
    }

    /// A Deployment's deploy action, or why it is in sync or left alone.
    /// `pending` is the version a train action of its model will produce.
    func deploymentOutcome(_ name: String, pending: Int?) -> Outcome {
        var outcome = Outcome()
        let manifests = desired.manifests
        let deployment = manifests.deployments[name]!
        let spec = deployment.spec
        let object = "Deployment/\(name)"
        let target = spec.targets.first?.target ?? ManifestSet.implicitLocalTarget
        if !observed.suspended.isEmpty, let line = suspendedLine(object, wouldDo: "not deployed or repaired") {
            outcome.warnings.append(line)
            return outcome
        }
        if let type = manifests.targetType(target), !Drivers.supports(type, .serve) {
            outcome.warnings.append("\(object): target \(target) is of a type this build cannot serve on (\(type.rawValue))")
            return outcome
        }
        let versions = observed.versions[spec.model] ?? []
        // An index, not a copy of the record (see the models above).
        let pinned = versions.firstIndex { $0.number == spec.version }
        if pinned == nil, pending != spec.version {
            let latest = versions.map(\.number).max().map { "latest is v\($0)" } ?? "no versions yet"
            outcome.warnings.append("\(object): pins \(spec.model)@\(spec.version), which does not exist (\(latest))")
            return outcome
        }
        if let pinned, !versions[pinned].gatesPassed {
            outcome.warnings.append("\(object): pinned \(spec.model)@\(spec.version) fails its gates (\(versions[pinned].gateReport)); deploying because Git pins it")
        }
        let record = observed.deployments[name]
        let reason: String?
        if let record {
            let seen = observed.observations[name]
            if record.version != spec.version {
                reason = "pinned \(spec.version), serving \(record.version)"
            } else if record.specDigest != Self.specDigest(spec) {
                reason = "serve spec changed"
            } else if seen?.serving != true {
                reason = "\(seen?.detail ?? "not observed") (drift)"
            } else if seen?.forwarding != true {
                // Each driver says what it saw: an alias moved by hand, an
                // address forwarded elsewhere, an endpoint on another config.
                reason = "\(seen?.detail ?? "stable address \(record.address) is not forwarded") (drift)"
            } else if seen?.healthy == false {
                reason = "\(seen?.detail ?? "unhealthy") (drift)"
            } else {
                reason = nil
            }
        } else {
            reason = "not deployed; pinned \(spec.version)" + (pinned == nil ? ", produced by the train above" : "")
        }
        if let reason {
            outcome.actions.append(Action(kind: .deploy, object: object, reason: reason, model: spec.model, version: spec.version,
                                          fromVersion: record?.version, deployment: name, target: target))
        } else {
            outcome.inSync = "\(object): serves \(spec.model)@\(spec.version) at \(record?.address ?? "?")"
        }
        return outcome
    }

    /// Deployments recorded as serving that Git no longer declares.
    func pruneOutcome() -> Outcome {
        var outcome = Outcome()
        let manifests = desired.manifests
        for (name, record) in observed.deployments.sorted(by: { $0.key < $1.key }) where manifests.deployments[name] == nil {
            if let line = suspendedLine("Deployment/\(name)", wouldDo: "not pruned although Git no longer declares it") {
                outcome.warnings.append(line)
                continue
            }
            outcome.actions.append(Action(kind: .prune, object: "Deployment/\(name)",
                                          reason: "no longer in Git; stop serving \(record.model)@\(record.version) at \(record.address)",
                                          model: record.model, version: record.version, deployment: name, target: record.target))
        }
        return outcome
    }
}
