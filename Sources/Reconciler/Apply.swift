import Foundation
import Lineage
import Manifests
import Planner
import Processes
import Source
import State
import Targets
import Tracing

/// How a reconcile ended.
public enum ReconcileResult: String, Sendable, Codable, CaseIterable {
    case running
    /// Every action succeeded (or was blocked by a policy).
    case applied
    case nothingToDo = "nothing-to-do"
    /// At least one action failed.
    case failed
    /// The revision has manifest errors; nothing ran.
    case invalid
    /// The controller stopped (or was cancelled) before every action ran.
    case interrupted
}

extension Reconciler {
    public struct Report: Sendable {
        public var reconcileID: Int64?
        public var result: ReconcileResult
        public var succeeded: [Action] = []
        public var failed: [(action: Action, error: String)] = []
        public var skipped: [(action: Action, reason: String)] = []
        /// How long each action that ran waited behind the ones before it
        /// (from the start of the apply) and took, with its result.
        public var timings: [Timing] = []

        public var ok: Bool { failed.isEmpty && result != .invalid }
    }

    public struct Timing: Sendable {
        public var kind: Action.Kind
        /// succeeded, failed or blocked.
        public var result: String
        public var queued: Duration
        public var took: Duration
    }

    /// This process as a reconcile's owner: `pid:start-time`, which a
    /// reused pid does not match.
    static let me: String = ProcessIdentity.of(pid: getpid()).map { "\($0.pid):\($0.startTime)" } ?? ""

    /// Records as `interrupted` each reconcile left `running` by a process
    /// that is gone (killed mid-apply). A controller does so as it starts.
    @discardableResult
    public func closeAbandonedReconciles() throws -> Int {
        try store.closeAbandonedReconciles(alive: Self.isAlive)
    }

    static func isAlive(_ owner: String) -> Bool {
        let parts = owner.split(separator: ":")
        guard parts.count == 2, let pid = Int32(parts[0]), let start = UInt64(parts[1]) else { return false }
        return ProcessIdentity(pid: pid, startTime: start).isRunning
    }

    /// Executes exactly `plan`, in order, recording the reconcile, an audit
    /// entry per action and each new version. When `stopRequested` turns
    /// true, the action under way finishes and the rest wait for the next
    /// reconcile: a stop never leaves an action half done.
    public func apply(
        _ plan: Plan, desired: DesiredState, actor: String,
        stopRequested: @Sendable () -> Bool = { false }
    ) async throws -> Report {
        let c = desired.revision.commit
        try closeAbandonedReconciles()
        var record = ReconcileRecord(
            startedAt: Date(), source: desired.revision.source, commit: c.id.hex,
            author: c.author, subject: c.subject)
        record.owner = Self.me
        var reconcile = try store.begin(record)
        var report = Report(reconcileID: reconcile.id, result: .running)
        // Recovery needs the targets a valid revision declares; an invalid
        // one leaves open launches for the next valid revision.
        if plan.isValid {
            try await recover(plan, desired.manifests)
            try releaseHolds(desired.manifests)
        }
        if !plan.isValid {
            report.result = .invalid
            reconcile.error = plan.diagnostics.prefix(20).map(\.description).joined(separator: "\n")
            try recordSource(desired.revision, good: false, error: reconcile.error)
        } else {
            var failedTrains: Set<String> = []
            var interrupted = false
            var stopping = false
            let applyStarted = ContinuousClock.now
            for action in plan.actions where !interrupted {
                if stopping || stopRequested() {
                    stopping = true
                    report.skipped.append((action, "the controller is stopping"))
                    try audit(reconcile, actor, action, "not started: the controller is stopping; runs on the next reconcile")
                    continue
                }
                if action.kind == .deploy || action.kind == .rollout, failedTrains.contains(action.model),
                    try store.version(action.model, action.version) == nil
                {
                    report.skipped.append((action, "the training of \(action.model) failed"))
                    try audit(reconcile, actor, action, "skipped: training failed")
                    continue
                }
                log("\(action.summary)")
                let started = ContinuousClock.now
                func timed(_ result: String) {
                    report.timings.append(Timing(kind: action.kind, result: result, queued: started - applyStarted, took: ContinuousClock.now - started))
                }
                do {
                    try await withSpan(action.kind.rawValue + " " + action.object) { span in
                        span.attributes["gantry.object"] = action.object
                        span.attributes["gantry.model"] = action.model
                        span.attributes["gantry.version"] = action.version
                        if let target = action.target { span.attributes["gantry.target"] = target }
                        try await executor(for: action).run(self, desired: desired)
                    }
                    timed("succeeded")
                    report.succeeded.append(action)
                    try audit(reconcile, actor, action, "succeeded")
                } catch let blocked as Blocked {
                    timed("blocked")
                    report.skipped.append((action, blocked.description))
                    try audit(reconcile, actor, action, "blocked: \(blocked.description)")
                    log("  blocked: \(blocked.description)")
                } catch is CancellationError {
                    interrupted = true
                    try audit(reconcile, actor, action, "interrupted; resumes on the next reconcile")
                } catch {
                    timed("failed")
                    if case .train(let model, _, _, _) = action.step { failedTrains.insert(model) }
                    report.failed.append((action, "\(error)"))
                    try audit(reconcile, actor, action, "failed: \(error)")
                    log("  failed: \(error)")
                }
            }
            report.result =
                interrupted || stopping
                ? .interrupted
                : plan.actions.isEmpty ? .nothingToDo : (report.failed.isEmpty ? .applied : .failed)
            reconcile.error = report.failed.map { "\($0.action.summary): \($0.error)" }.joined(separator: "\n")
            try recordSource(desired.revision, good: true, error: reconcile.error)
        }
        reconcile.result = report.result.rawValue
        reconcile.actions = plan.actions.count
        reconcile.finishedAt = Date()
        try store.finish(reconcile)
        return report
    }

    /// Stops everything this state directory serves and forgets it; versions
    /// and history stay. Returns the deployments stopped. Remote targets are
    /// reached through `manifests` (the tracked revision's).
    public func destroy(actor: String, manifests: ManifestSet = ManifestSet()) async throws -> [DeploymentRecord] {
        let records = try store.deployments()
        for record in records {
            try await driver(record.target, manifests).stop(record)
            try store.removeDeployment(record.name, target: record.target)
            try store.release(record.name)
            try store.audit(
                AuditRecord(
                    time: Date(), reconcileId: nil, actor: actor, action: "destroy",
                    object: "Deployment/\(record.name)", detail: "stopped \(record.model)@\(record.version)", result: "succeeded"))
        }
        return records
    }

    /// Forgets each held version Git no longer asks for (another pin, or a
    /// changed serve spec): pinned again later, it is tried again.
    public func releaseHolds(_ manifests: ManifestSet) throws {
        for hold in try store.holds() {
            if let spec = manifests.deployments[hold.deployment]?.spec, hold.holds(spec) { continue }
            try store.release(hold.deployment)
            log("released the hold of \(hold.model)@v\(hold.version) on \(hold.deployment): Git asks for something else now")
        }
    }

    func audit(_ reconcile: ReconcileRecord, _ actor: String, _ action: Action, _ result: String) throws {
        try store.audit(
            AuditRecord(
                time: Date(), reconcileId: reconcile.id, actor: actor, action: action.kind.rawValue,
                object: action.object, detail: action.reason, result: result))
    }

    func recordSource(_ revision: Revision, good: Bool, error: String) throws {
        let previous = try store.source(revision.source)
        try store.save(
            SourceRecord(
                source: revision.source,
                lastGoodCommit: good ? revision.commit.id.hex : (previous?.lastGoodCommit ?? ""),
                lastSeenCommit: revision.commit.id.hex, lastError: error, updatedAt: Date()))
    }
}
