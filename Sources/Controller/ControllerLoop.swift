import Foundation
import Logging
import Planner
import Processes
import Reconciler
import ServiceLifecycle
import Source
import State
import Synchronization
import Tracing

/// The reconcile loop as a Service: every interval, or at once when woken
/// (a webhook, "refresh now"), fetch, plan, and apply when there is
/// something to do. On graceful shutdown it takes no new work, lets the
/// action under way finish, and returns.
///
///     let loop = ControllerLoop(source: git, reconciler: reconciler, status: status, wakeup: wakeup,
///                               configuration: .init(interval: .seconds(30)), logger: logger)
///     try await ServiceGroup(services: [loop], logger: logger).run()
public final class ControllerLoop: Service, Sendable {
    public struct Configuration: Sendable {
        public var interval: Duration
        /// Stop after this many loops; 0 runs until shutdown.
        public var iterations: Int
        /// The actor recorded in the audit log for the loop's own actions.
        public var actor: String
        /// Spread polls of one Git server by ±10% (off in tests that time loops).
        public var jitter: Bool

        public init(interval: Duration, iterations: Int = 0, actor: String = "controller", jitter: Bool = true) {
            self.interval = interval
            self.iterations = iterations
            self.actor = actor
            self.jitter = jitter
        }
    }

    let source: GitSource
    let reconciler: Reconciler
    public let status: ControllerStatus
    public let wakeup: Wakeup
    let metrics: ControllerMetrics?
    let notifier: Notifier?
    let configuration: Configuration
    let logger: Logger
    /// What failed and was announced, by object ("revision" for an invalid
    /// one): a failure is announced when its streak starts, and its end
    /// with a recovery notice. In memory: a restarted controller announces
    /// a standing failure once more.
    let failing = Mutex<[String: String]>([:])

    public init(
        source: GitSource, reconciler: Reconciler, status: ControllerStatus, wakeup: Wakeup = Wakeup(),
        metrics: ControllerMetrics? = nil, notifier: Notifier? = nil, configuration: Configuration, logger: Logger
    ) {
        self.source = source
        self.reconciler = reconciler
        self.status = status
        self.wakeup = wakeup
        self.metrics = metrics
        self.notifier = notifier
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await loop()
        } onGracefulShutdown: {
            self.status.update { $0.stopping = true }
            self.wakeup.stop()
        }
    }

    func loop() async {
        logger.info(
            "controller started",
            metadata: [
                "source": "\(source.name)", "interval": "\(configuration.interval)",
                "state": "\(reconciler.workspace.root)",
            ])
        if let closed = try? reconciler.closeAbandonedReconciles(), closed > 0 {
            logger.warning("reconciles left running by a process that is gone are recorded as interrupted", metadata: ["count": .stringConvertible(closed)])
        }
        var lastCommit = ""
        var warned: Set<String> = []
        var loops = 0
        var failures = 0
        var woken: Wakeup.Request?
        while !wakeup.isStopped {
            loops += 1
            if let woken {
                let latency = ContinuousClock.now - woken.requestedAt
                logger.info(
                    "refresh requested",
                    metadata: [
                        "reason": "\(woken.reason)",
                        "latency_ms": .stringConvertible((latency.seconds * 10_000).rounded() / 10),
                    ])
                status.update { $0.lastWakeup = .init(reason: woken.reason, at: Date(), latencySeconds: latency.seconds) }
            }
            do {
                let (commit, ok, warnings) = try await reconcileOnce(lastCommit: lastCommit)
                lastCommit = commit
                warned = Self.announce(warnings, after: warned, to: logger)
                failures = ok ? 0 : failures + 1
                if status.snapshot.degradedSince != nil { logger.info("reconciling again after a failure") }
                status.update {
                    $0.lastError = nil
                    $0.degradedSince = nil
                    // A loop that applied something said so; one that had
                    // nothing to do clears the failure's result too.
                    if $0.lastResult == "error" { $0.lastResult = "nothing-to-do" }
                }
                metrics?.degraded(false)
            } catch {
                failures += 1
                metrics?.reconciled(after: .zero, result: "error")
                metrics?.degraded(true)
                status.update {
                    $0.lastError = "\(error)"
                    $0.lastResult = "error"
                    $0.degradedSince = $0.degradedSince ?? Date()
                }
                logger.error("reconcile failed", metadata: ["error": "\(error)", "attempt": .stringConvertible(failures)])
            }
            status.update { $0.loops = loops }
            await maintain()
            if configuration.iterations > 0 && loops >= configuration.iterations { break }
            woken = await wakeup.wait(upTo: delay(failures: failures))
        }
        logger.info("reconcile loop stopped")
    }

    /// `upkeep(after:)`, on a thread of its own as fetches are.
    func maintain() async {
        let source = self.source
        if let problem = try? await onOwnThread({ upkeep(after: source) }) {
            logger.warning("the fetch cache's packs could not be compacted; fetching goes on", metadata: ["problem": "\(problem)"])
        }
    }

    /// Logs each warning once, when it first appears (a deleted S3 object
    /// is worth one line, not one a loop), and says when one is gone.
    /// Returns the warnings now standing.
    static func announce(_ warnings: [String], after previous: Set<String>, to logger: Logger) -> Set<String> {
        let now = Set(warnings)
        for w in warnings where !previous.contains(w) { logger.warning("\(w)") }
        for w in previous.subtracting(now).sorted() { logger.info("warning cleared", metadata: ["warning": "\(w)"]) }
        return now
    }

    /// One fetch, plan and (when needed) apply. Returns the commit seen,
    /// whether every action succeeded, and the plan's warnings.
    /// Traced as a `reconcile` span with `fetch`, `plan` and `apply`
    /// spans under it (and one per action under `apply`).
    func reconcileOnce(lastCommit: String) async throws -> (String, Bool, [String]) {
        try await withSpan("reconcile") { span in
            try await reconcileSteps(lastCommit: lastCommit, span: span)
        }
    }

    private func reconcileSteps(lastCommit: String, span: any Span) async throws -> (String, Bool, [String]) {
        let started = ContinuousClock.now
        let source = self.source
        let revision: Revision
        do {
            revision = try await withSpan("fetch") { span in
                span.attributes["gantry.source"] = source.name
                return try await onOwnThread { try source.fetch(compacting: false) }
            }
            metrics?.fetched(after: ContinuousClock.now - started, succeeded: true)
        } catch {
            metrics?.fetched(after: ContinuousClock.now - started, succeeded: false)
            throw error
        }
        status.update { $0.lastFetchAt = Date() }
        span.attributes["gantry.commit"] = revision.commit.id.hex
        var assessment = try await withSpan("plan") { span in
            let assessment = try await reconciler.assess(revision)
            span.attributes["gantry.actions"] = assessment.plan.actions.count
            return assessment
        }
        record(assessment)
        let plan = assessment.plan
        let commit = revision.commit
        if commit.id.hex != lastCommit {
            logger.info("new revision", metadata: ["commit": "\(commit.id.short)", "author": "\(commit.author)", "subject": "\(commit.subject)"])
        }
        var ok = true
        if plan.hasChanges || (commit.id.hex != lastCommit && !plan.isValid) {
            for d in plan.diagnostics {
                logger.error("invalid revision; the last good one keeps running", metadata: ["commit": "\(commit.id.short)", "diagnostic": "\(d)"])
            }
            let status = self.status
            let written = source.commitsWrittenToTrackedBranch
            let desired = assessment.desired
            let actor = configuration.actor
            let report = try await withSpan("apply") { span in
                let report = try await reconciler.apply(plan, desired: desired, actor: actor, stopRequested: { status.snapshot.stopping })
                span.attributes["gantry.result"] = report.result.rawValue
                return report
            }
            span.attributes["gantry.result"] = report.result.rawValue
            let seconds = ContinuousClock.now - started
            logger.info(
                "reconciled",
                metadata: [
                    "reconcile": .stringConvertible(Int(report.reconcileID ?? 0)), "result": "\(report.result.rawValue)",
                    "actions": .stringConvertible(plan.actions.count), "failed": .stringConvertible(report.failed.count),
                    "seconds": .stringConvertible((seconds.seconds * 1000).rounded() / 1000),
                ])
            metrics?.reconciled(after: seconds, result: report.result.rawValue)
            for a in report.succeeded { metrics?.action(kind: a.kind.rawValue, result: "succeeded") }
            for f in report.failed { metrics?.action(kind: f.action.kind.rawValue, result: "failed") }
            for s in report.skipped { metrics?.action(kind: s.action.kind.rawValue, result: "skipped") }
            for t in report.timings { metrics?.timed(t) }
            self.status.update { $0.lastResult = report.result.rawValue }
            await notify(report, plan: plan)
            // A pin this reconcile committed (a promotion, a pin-back) is
            // Git's now: act on it at once, not at the next interval.
            if source.commitsWrittenToTrackedBranch > written {
                _ = wakeup.request("a commit this controller wrote to \(source.ref ?? "the followed branch")")
            }
            ok = report.failed.isEmpty
            // What is pending now, not what was just done.
            assessment = try await reconciler.assess(revision, readOnly: true)
            record(assessment)
        } else {
            // A hold Git no longer asks for (a pin-back landed, say) ends
            // now, not at the next reconcile that has something to do.
            if plan.isValid {
                // The observation read the holds: the store again only when there are some.
                if !assessment.observed.holds.isEmpty { try reconciler.releaseHolds(assessment.desired.manifests) }
                await announceRecoveries(except: [], plan: plan)
            }
            metrics?.reconciled(after: ContinuousClock.now - started, result: "nothing-to-do")
        }
        return (commit.id.hex, ok, plan.warnings)
    }

    func record(_ assessment: Reconciler.Assessment) {
        status.update {
            $0.assessment = assessment
            $0.assessedAt = Date()
            $0.ready = true
        }
        if let deployments = try? reconciler.store.deployments() {
            metrics?.observe(plan: assessment.plan, deployments: deployments)
        }
    }

    func notify(_ report: Reconciler.Report, plan: Plan) async {
        guard let notifier, !notifier.receivers.isEmpty else { return }
        let source = plan.revision.source
        let commit = plan.revision.commit
        // A failure is announced when it starts, not on every reconcile
        // that meets it again.
        var now: [String: String] = [:]
        for f in report.failed { now[f.action.object] = now[f.action.object] ?? "\(f.action.summary): \(f.error)" }
        if report.result == .invalid { now["revision"] = plan.diagnostics.prefix(10).map(\.description).joined(separator: "\n") }
        let before = failing.withLock { $0 }
        let fresh = now.filter { before[$0.key] == nil }
        failing.withLock { $0.merge(now) { $1 } }
        if !fresh.isEmpty {
            let lines = fresh.sorted { $0.key < $1.key }.map(\.value)
            await notifier.send(
                .init(
                    event: .syncFailed, object: report.failed.first { fresh[$0.action.object] != nil }?.action.object ?? source,
                    message: lines.prefix(10).joined(separator: "\n"), source: source, commit: commit))
        }
        // An object still waiting for an action that did not run (skipped
        // behind a failure) has not recovered.
        let pending = Set(plan.actions.map(\.object)).subtracting(report.succeeded.map(\.object))
        await announceRecoveries(except: Set(now.keys).union(pending), plan: plan)
        for action in report.succeeded {
            switch action.kind {
            case .train:
                await notifier.send(
                    .init(
                        event: .retrained, object: action.object,
                        message: "trained v\(action.version): \(action.reason)", source: source, commit: commit))
                if let trained = try? reconciler.store.version(action.model, action.version), !trained.gatesPassed {
                    await notifier.send(
                        .init(
                            event: .gateBlocked, object: action.object,
                            message: "v\(action.version) is not promoted: \(trained.gateReport)", source: source, commit: commit))
                }
            case .promote:
                let outcome = (try? reconciler.store.version(action.model, action.version))?.promotion ?? ""
                await notifier.send(
                    .init(
                        event: .promoted, object: action.object,
                        message: "v\(action.version): \(outcome)", source: source, commit: commit))
            case .rollout:
                // A held version's targets put back by a later reconcile.
                guard case .rollout(_, _, _, let waves, true) = action.step else { break }
                await notifier.send(
                    .init(
                        event: .rolledBack, object: action.object,
                        message: "\(waves.joined().map(\.target).joined(separator: ", ")) serve \(action.model)@v\(action.version) again: \(action.reason)",
                        source: source, commit: commit))
            case .deploy where (action.fromVersion ?? 0) > action.version:
                await notifier.send(
                    .init(
                        event: .rolledBack, object: action.object,
                        message: "now serves \(action.model)@v\(action.version) (was v\(action.fromVersion ?? 0))",
                        source: source, commit: commit))
            default:
                break
            }
        }
    }

    /// Says once for each announced failure that is over: its object is
    /// not in `standing`, not held (a failed rollout whose version Git
    /// still pins) and the revision is valid.
    func announceRecoveries(except standing: Set<String>, plan: Plan) async {
        // Nearly always nothing failed: no scan of the plan's notes.
        if failing.withLock({ $0.isEmpty }) { return }
        var standing = standing
        for note in plan.blocked {
            if case .held = note.state { standing.insert(note.object) }
        }
        let over = failing.withLock { failing in
            let over = failing.filter { !standing.contains($0.key) && ($0.key != "revision" || plan.isValid) }
            for key in over.keys { failing[key] = nil }
            return over
        }
        guard let notifier, !notifier.receivers.isEmpty else { return }
        for (object, failure) in over.sorted(by: { $0.key < $1.key }) {
            await notifier.send(
                .init(
                    event: .recovered, object: object == "revision" ? plan.revision.source : object,
                    message: "reconciles again (it failed with: \(failure.prefix(300)))", source: plan.revision.source,
                    commit: plan.revision.commit))
        }
    }

    /// The wait before the next loop: the interval with ±10% jitter, so that
    /// many controllers do not poll one Git server in step; after failures,
    /// an exponential backoff from 2s, capped at 5 minutes.
    func delay(failures: Int) -> Duration {
        Self.delay(period: configuration.interval, failures: failures, jitter: configuration.jitter)
    }

    public static func delay(period: Duration, failures: Int, jitter: Bool = true) -> Duration {
        if failures > 0 {
            let backoff = Duration.seconds(2) * (1 << min(failures - 1, 8))
            return min(backoff, .seconds(300))
        }
        return jitter ? period * Double.random(in: 0.9...1.1) : period
    }
}

/// Runs blocking work (libgit2) on a thread of its own, so the two-thread
/// concurrency pool of a small machine never stalls on it.
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}
