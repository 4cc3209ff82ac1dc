import Foundation
import Synchronization
import Lineage
import Manifests
import State
import Targets

/// Observed state: what the state store and the drivers report.
public struct ObservedState: Sendable, Equatable {
    public var versions: [String: [VersionRecord]]
    public var deployments: [String: DeploymentRecord]
    public var observations: [String: ObservedDeployment]
    /// Keys of launches in flight (open intents).
    public var inFlight: Set<String>
    /// Objects an operator suspended (`Deployment/churn-prod`), by object.
    public var suspended: [String: SuspensionRecord]

    public init(versions: [String: [VersionRecord]], deployments: [String: DeploymentRecord],
                observations: [String: ObservedDeployment], inFlight: Set<String>,
                suspended: [String: SuspensionRecord] = [:]) {
        self.versions = versions
        self.deployments = deployments
        self.observations = observations
        self.inFlight = inFlight
        self.suspended = suspended
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

    /// The last plan, with what it was worked out from. The planner is a
    /// function of its inputs: a controller loop with nothing new (the
    /// same desired state, and observed state equal to the last) gets the
    /// same plan back instead of visiting 20,000 objects again.
    private static let last = Mutex<(generation: UInt64, observed: ObservedState, plan: Plan)?>(nil)

    public func plan() -> Plan {
        let generation = desired.generation
        if let plan = Self.last.withLock({ last in
            last.flatMap { $0.generation == generation && $0.observed == observed ? $0.plan : nil }
        }) {
            return plan
        }
        let plan = workOut()
        Self.last.withLock { $0 = (generation, observed, plan) }
        return plan
    }

    func workOut() -> Plan {
        let c = desired.revision.commit
        let revision = Plan.Revision(source: desired.revision.source, commit: c.id.hex, author: c.author, subject: c.subject)
        guard desired.revision.isValid else {
            return Plan(revision: revision, diagnostics: desired.revision.diagnostics, actions: [], inSync: [], warnings: [])
        }
        // A list per kind, in the order the plan gives them (train, promote,
        // deploy, prune), each in the order added: no sort moving 10,000
        // large actions about.
        var actions = [[Action]](repeating: [], count: 4)
        func add(_ action: Action) { actions[action.kind.order].append(action) }
        var inSync: [String] = []
        var warnings: [String] = []
        var pendingVersion: [String: Int] = [:]

        // Sorted once when the manifests were assembled.
        let manifests = desired.manifests
        let names = manifests.names.models
        let anySuspended = !observed.suspended.isEmpty
        for name in names {
            let state = desired.models[name]!
            // The digest, not the lineage, is checked: reading the optional
            // lineage copies it, which retains each of its strings.
            guard let digest = state.digest else {
                warnings.append("Model/\(name): cannot compute lineage: \(state.problem ?? "unknown problem")")
                continue
            }
            if anySuspended, let line = suspendedLine("Model/\(name)", wouldDo: "not retrained") {
                warnings.append(line)
                continue
            }
            if let type = manifests.targetType(state.entry.spec.target), !Drivers.supports(type, .train) {
                warnings.append("Model/\(name): target \(state.entry.spec.target) is of a type this build cannot train on (\(type.rawValue))")
                continue
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
                inSync.append("Model/\(name): v\(versions[match].number) matches the current lineage")
                continue
            }
            // At this revision's commit (a carried-over state keeps the
            // commit it was worked out at).
            var lineage = state.lineage!
            lineage.commit = c.id.hex
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
            pendingVersion[name] = next
            add(Action(kind: .train, object: "Model/\(name)", reason: reason, model: name, version: next,
                                  target: state.entry.spec.target, lineage: lineage))
            if let policy = state.entry.spec.promotion?.policy, pins(name).contains(where: { $0 < next }) {
                add(Action(kind: .promote, object: "Model/\(name)",
                                      reason: "policy \(policy.rawValue): pin v\(next) if it passes its gates", model: name, version: next))
            }
        }
        for name in names where pendingVersion[name] == nil {
            guard let state = desired.models[name] else { continue }
            // Promotion follows a training; only one whose write-back failed
            // (an unreachable remote, say) is tried again. A version pinned
            // back by hand is not proposed again.
            guard observed.suspended["Model/\(name)"] == nil,
                  let policy = state.entry.spec.promotion?.policy, let latest = observed.versions[name]?.last,
                  latest.gatesPassed, latest.promotion.hasPrefix("failed"), pins(name).contains(where: { $0 < latest.number }) else { continue }
            add(Action(kind: .promote, object: "Model/\(name)",
                                  reason: "policy \(policy.rawValue): retry writing the pin bump of v\(latest.number) (\(latest.promotion))",
                                  model: name, version: latest.number))
        }

        for name in manifests.names.deployments {
            let deployment = manifests.deployments[name]!
            let spec = deployment.spec
            let object = "Deployment/\(name)"
            let target = spec.targets.first?.target ?? ManifestSet.implicitLocalTarget
            if anySuspended, let line = suspendedLine(object, wouldDo: "not deployed or repaired") {
                warnings.append(line)
                continue
            }
            if let type = manifests.targetType(target), !Drivers.supports(type, .serve) {
                warnings.append("\(object): target \(target) is of a type this build cannot serve on (\(type.rawValue))")
                continue
            }
            let versions = observed.versions[spec.model] ?? []
            // An index, not a copy of the record (see the models above).
            let pinned = versions.firstIndex { $0.number == spec.version }
            if pinned == nil, pendingVersion[spec.model] != spec.version {
                let latest = versions.map(\.number).max().map { "latest is v\($0)" } ?? "no versions yet"
                warnings.append("\(object): pins \(spec.model)@\(spec.version), which does not exist (\(latest))")
                continue
            }
            if let pinned, !versions[pinned].gatesPassed {
                warnings.append("\(object): pinned \(spec.model)@\(spec.version) fails its gates (\(versions[pinned].gateReport)); deploying because Git pins it")
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
                    reason = "stable address \(record.address) is not forwarded (drift)"
                } else if seen?.healthy == false {
                    reason = "\(seen?.detail ?? "unhealthy") (drift)"
                } else {
                    reason = nil
                }
            } else {
                reason = "not deployed; pinned \(spec.version)" + (pinned == nil ? ", produced by the train above" : "")
            }
            if let reason {
                add(Action(kind: .deploy, object: object, reason: reason, model: spec.model, version: spec.version,
                                      fromVersion: record?.version, deployment: name, target: target))
            } else {
                inSync.append("\(object): serves \(spec.model)@\(spec.version) at \(record?.address ?? "?")")
            }
        }

        for (name, record) in observed.deployments.sorted(by: { $0.key < $1.key }) where manifests.deployments[name] == nil {
            if let line = suspendedLine("Deployment/\(name)", wouldDo: "not pruned although Git no longer declares it") {
                warnings.append(line)
                continue
            }
            add(Action(kind: .prune, object: "Deployment/\(name)",
                                  reason: "no longer in Git; stop serving \(record.model)@\(record.version) at \(record.address)",
                                  model: record.model, version: record.version, deployment: name, target: record.target))
        }
        return Plan(revision: revision, diagnostics: [], actions: actions.flatMap { $0 }, inSync: inSync, warnings: warnings)
    }
}
