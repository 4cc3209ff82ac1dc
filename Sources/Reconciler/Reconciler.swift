import Foundation
import Git
import Lineage
import Manifests
import Planner
import Processes
import Source
import State
import Targets

/// Runs the reconcile pipeline: desired state from a revision, observed
/// state from the store and the drivers, a plan, and its execution with
/// every step recorded.
///
///     let reconciler = Reconciler(store: store, workspace: workspace)
///     let (desired, plan) = await reconciler.plan(revision)
///     let report = await reconciler.apply(plan, desired: desired, actor: "cli")
public final class Reconciler: Sendable {
    public let store: StateStore
    public let workspace: Workspace
    /// Where promotions write pin bumps; nil leaves Git alone.
    let writeBack: GitSource?
    let author: Signature
    let log: @Sendable (String) -> Void

    public init(store: StateStore, workspace: Workspace, writeBack: GitSource? = nil,
                author: Signature = Signature(name: "Gantry", email: "gantry@localhost"),
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.store = store
        self.workspace = workspace
        self.writeBack = writeBack
        self.author = author
        self.log = log
    }

    /// An action that did not run because a policy says so (a version that
    /// fails its gates is never promoted); not a failure.
    struct Blocked: Error, CustomStringConvertible {
        var description: String
    }

    /// The driver for target `name`; throws when Git does not declare it or
    /// it cannot be built.
    func driver(_ name: String, _ manifests: ManifestSet) throws -> any TargetDriver {
        try Drivers.make(target: name, in: manifests, workspace: workspace, store: store)
    }

    // MARK: - Plan

    /// How many deployments are observed at the same time.
    static let observeWidth = 32

    public func observe(_ desired: DesiredState) async throws -> ObservedState {
        let (versions, stamp) = try store.stampedVersionsByModel()
        var deployments: [String: DeploymentRecord] = [:]
        var observations: [String: ObservedDeployment] = [:]
        let records = try store.deployments()
        for record in records { deployments[record.name] = record }
        // Deployments are observed concurrently, at most `observeWidth` at a
        // time: a slow or unreachable target costs its own timeout, not the
        // sum over all deployments, and 10,000 deployments do not open
        // 10,000 connections at once.
        let manifests = desired.manifests
        // One driver per target, built once (a driver may read credentials).
        var drivers: [String: Result<any TargetDriver, any Error>] = [:]
        for target in Set(records.map(\.target)) {
            drivers[target] = Result { try driver(target, manifests) }
        }
        await withTaskGroup(of: ObservedDeployment.self) { group in
            var pending = records[...]
            func startNext() {
                guard let record = pending.popFirst() else { return }
                let spec = manifests.deployments[record.name]?.spec
                let driver = drivers[record.target]!
                group.addTask {
                    switch driver {
                    case .success(let driver): return await driver.observe(record, spec: spec)
                    case .failure(let error):
                        return ObservedDeployment(name: record.name, serving: false, forwarding: false, healthy: nil, detail: "\(error)")
                    }
                }
            }
            for _ in 0..<Self.observeWidth { startNext() }
            for await seen in group {
                observations[seen.name] = seen
                startNext()
            }
        }
        let inFlight = Set(try store.openIntents().map(\.key))
        let suspended = Dictionary(try store.suspensions().map { ($0.object, $0) }, uniquingKeysWith: { a, _ in a })
        return ObservedState(versions: versions, deployments: deployments, observations: observations, inFlight: inFlight,
                             suspended: suspended, versionsStamp: stamp)
    }

    /// Desired state and the plan for `revision`. Reads data to fingerprint
    /// it and probes health; starts, stops and writes nothing.
    /// With `readOnly`, not even the file-hash cache is written.
    public func plan(_ revision: Revision, readOnly: Bool = false, now: Date = Date()) async throws -> (DesiredState, Plan) {
        let assessment = try await assess(revision, readOnly: readOnly, now: now)
        return (assessment.desired, assessment.plan)
    }

    /// Desired state, observed state and the plan between them: what the
    /// controller keeps to show (health, drift) besides the plan itself.
    public struct Assessment: Sendable {
        public var desired: DesiredState
        public var observed: ObservedState
        public var plan: Plan
    }

    public func assess(_ revision: Revision, readOnly: Bool = false, now: Date = Date()) async throws -> Assessment {
        let desired = revision.isValid
            ? await DesiredState.compute(revision, fingerprinter: Fingerprinter(store: store, cacheWrites: !readOnly), now: now)
            : DesiredState(revision: revision, models: [:])
        let observed = try await observe(desired)
        var plan = Planner(desired: desired, observed: observed).plan()
        plan.warnings += readinessWarnings(plan, desired.manifests, versions: observed.versions)
        return Assessment(desired: desired, observed: observed, plan: plan)
    }

    // MARK: - Apply

    public struct Report: Sendable {
        public var reconcileID: Int64?
        public var result: String
        public var succeeded: [Action] = []
        public var failed: [(action: Action, error: String)] = []
        public var skipped: [(action: Action, reason: String)] = []

        public var ok: Bool { failed.isEmpty && result != "invalid" }
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
    public func apply(_ plan: Plan, desired: DesiredState, actor: String,
                      stopRequested: @Sendable () -> Bool = { false }) async throws -> Report {
        let c = desired.revision.commit
        try closeAbandonedReconciles()
        var record = ReconcileRecord(startedAt: Date(), source: desired.revision.source, commit: c.id.hex,
                                     author: c.author, subject: c.subject)
        record.owner = Self.me
        var reconcile = try store.begin(record)
        var report = Report(reconcileID: reconcile.id, result: "running")
        try await resumeInterrupted(plan)
        if !plan.isValid {
            report.result = "invalid"
            reconcile.error = plan.diagnostics.prefix(20).map(\.description).joined(separator: "\n")
            try recordSource(desired.revision, good: false, error: reconcile.error)
        } else {
            var failedTrains: Set<String> = []
            var interrupted = false
            var stopping = false
            for action in plan.actions where !interrupted {
                if stopping || stopRequested() {
                    stopping = true
                    report.skipped.append((action, "the controller is stopping"))
                    try audit(reconcile, actor, action, "not started: the controller is stopping; runs on the next reconcile")
                    continue
                }
                if action.kind == .deploy, let model = action.model, failedTrains.contains(model),
                   try store.version(model, action.version ?? 0) == nil {
                    report.skipped.append((action, "the training of \(model) failed"))
                    try audit(reconcile, actor, action, "skipped: training failed")
                    continue
                }
                log("\(action.summary)")
                do {
                    try await execute(action, desired: desired)
                    report.succeeded.append(action)
                    try audit(reconcile, actor, action, "succeeded")
                } catch let blocked as Blocked {
                    report.skipped.append((action, blocked.description))
                    try audit(reconcile, actor, action, "blocked: \(blocked.description)")
                    log("  blocked: \(blocked.description)")
                } catch is CancellationError {
                    interrupted = true
                    try audit(reconcile, actor, action, "interrupted; resumes on the next reconcile")
                } catch {
                    if action.kind == .train, let model = action.model { failedTrains.insert(model) }
                    report.failed.append((action, "\(error)"))
                    try audit(reconcile, actor, action, "failed: \(error)")
                    log("  failed: \(error)")
                }
            }
            report.result = interrupted || stopping ? "interrupted"
                : plan.actions.isEmpty ? "nothing-to-do" : (report.failed.isEmpty ? "applied" : "failed")
            reconcile.error = report.failed.map { "\($0.action.summary): \($0.error)" }.joined(separator: "\n")
            try recordSource(desired.revision, good: true, error: reconcile.error)
        }
        reconcile.result = report.result
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
            try store.removeDeployment(record.name)
            try store.audit(AuditRecord(time: Date(), reconcileId: nil, actor: actor, action: "destroy",
                                        object: "Deployment/\(record.name)", detail: "stopped \(record.model)@\(record.version)", result: "succeeded"))
        }
        return records
    }

    func audit(_ reconcile: ReconcileRecord, _ actor: String, _ action: Action, _ result: String) throws {
        try store.audit(AuditRecord(time: Date(), reconcileId: reconcile.id, actor: actor, action: action.kind.rawValue,
                                    object: action.object, detail: action.reason, result: result))
    }

    func recordSource(_ revision: Revision, good: Bool, error: String) throws {
        let previous = try store.source(revision.source)
        try store.save(SourceRecord(source: revision.source,
                                    lastGoodCommit: good ? revision.commit.id.hex : (previous?.lastGoodCommit ?? ""),
                                    lastSeenCommit: revision.commit.id.hex, lastError: error, updatedAt: Date()))
    }

    func execute(_ action: Action, desired: DesiredState) async throws {
        let manifests = desired.manifests
        switch action.kind {
        case .train:
            guard let name = action.model, let lineage = action.lineage, let model = manifests.models[name],
                  let pipeline = manifests.pipelines[model.spec.pipeline] else {
                throw DriverError("nothing to train for \(action.object)")
            }
            let driver = try driver(model.spec.target, manifests)
            let datasets = manifests.datasets.filter { (model.spec.datasets ?? []).contains($0.key) }
            let key = Planner.trainKey(model: name, digest: lineage.digest)
            let request = TrainingRequest(model: model, pipeline: pipeline, lineage: lineage, revision: desired.revision, datasets: datasets)
            do {
                let outcome = try await driver.train(request, intentKey: key)
                log("  steps: \(outcome.steps.joined(separator: ", "))")
                let version = try register(model: model, lineage: lineage, outcome: outcome)
                try closeIntent(key, status: "done")
                log("  registered \(name)@v\(version.number)" + (version.gatesPassed ? "" : " (gates: \(version.gateReport))"))
            } catch is CancellationError {
                throw CancellationError()  // the run goes on; the next controller adopts it
            } catch {
                try closeIntent(key, status: "failed")
                throw error
            }
        case .deploy:
            guard let name = action.deployment, let deployment = manifests.deployments[name] else {
                throw DriverError("nothing to deploy for \(action.object)")
            }
            let driver = try driver(action.target ?? ManifestSet.implicitLocalTarget, manifests)
            guard let version = try store.version(deployment.spec.model, deployment.spec.version) else {
                throw DriverError("\(deployment.spec.model)@\(deployment.spec.version) does not exist")
            }
            var registry: RegistryModel?
            if let source = deployment.spec.serve.registry {
                // Published first, so the server finds the version there.
                guard let mlflow = try self.driver(source, manifests) as? MLflowTarget else {
                    throw DriverError("Deployment \(name): spec.serve.registry \(source) is not an mlflow target")
                }
                registry = try await mlflow.published(version)
            }
            _ = try await driver.deploy(DeployRequest(deployment: deployment, version: version, revision: desired.revision,
                                                      current: try store.deployment(name),
                                                      specDigest: Planner.specDigest(deployment.spec), registry: registry))
        case .promote:
            try promote(action, desired: desired)
        case .prune:
            guard let name = action.deployment, let record = try store.deployment(name) else { return }
            try await driver(record.target, manifests).stop(record)
            try store.removeDeployment(name)
        }
    }

    /// Writes the pin bump of a version that passed its gates back to Git:
    /// onto the tracked branch (`auto`) or a `gantry/<model>-v<N>` branch for
    /// review (`manual`). Deployments pinned to a newer version are left alone.
    func promote(_ action: Action, desired: DesiredState) throws {
        guard let name = action.model, let number = action.version, let model = desired.manifests.models[name],
              let policy = model.spec.promotion?.policy else { throw DriverError("nothing to promote for \(action.object)") }
        guard let version = try store.version(name, number) else { throw Blocked(description: "\(name)@v\(number) was not trained") }
        guard version.gatesPassed else {
            try store.setPromotion(name, number, "blocked: \(version.gateReport)")
            throw Blocked(description: "v\(number) fails its gates: \(version.gateReport)")
        }
        guard let source = writeBack else { throw Blocked(description: "no repository to write the pin bump to") }
        let branch = "gantry/\(name)-v\(number)"
        let result: WriteBackResult?
        do {
            result = try source.writeBack(message: promotionMessage(model: name, version: version), author: author,
                                          destination: policy == .auto ? .trackedBranch(fallback: branch) : .branch(branch)) { tip in
            var files: [String: [UInt8]] = [:]
            for d in tip.manifests.deployments.values.sorted(by: { $0.name < $1.name }) where d.spec.model == name && d.spec.version < number {
                let path = d.origin.file
                let bytes = try files[path] ?? tip.file(path) ?? []
                files[path] = try PinEditor.setVersion(number, deployment: d.name, in: bytes, file: path)
            }
            return files
        }
        } catch {
            try store.setPromotion(name, number, "failed: \(error)")
            throw error
        }
        let outcome: String
        if let result {
            let how = result.branch == branch
                ? "\(source.isRemote ? "pushed" : "created") branch \(branch) (\(result.commit.short))"
                : "committed \(result.commit.short) to \(result.branch)"
            outcome = how + (result.note.map { "; \($0)" } ?? "")
        } else {
            outcome = "already pinned"
        }
        try store.setPromotion(name, number, outcome)
        log("  \(outcome)")
    }

    /// "gantry: promote churn to v8 (dataset churn-data changed)", with the
    /// lineage and metrics in the body.
    func promotionMessage(model: String, version: VersionRecord) throws -> String {
        let lineage = Lineage.decode(version.lineage)
        let parent = try store.versions(of: model).last { $0.number < version.number }
        var why = "first version"
        if let lineage, let p = parent.flatMap({ Lineage.decode($0.lineage) }) {
            let changes = lineage.changes(since: p, triggers: nil).map { $0.replacingOccurrences(of: #" \(.*\)$"#, with: "", options: .regularExpression) }
            why = changes.isEmpty ? "retrained" : changes.joined(separator: ", ")
        }
        let metrics = version.metricValues.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%g", $0.value))" }.joined(separator: " ")
        return "gantry: promote \(model) to v\(version.number) (\(why))\n\nLineage: \(version.digest)\nMetrics: \(metrics)\nGates: \(version.gateReport)\n"
    }

    /// Records a version. If an earlier controller registered this lineage
    /// already (killed between registering and closing its intent), that
    /// version is returned rather than a duplicate made.
    func register(model: Entry<ModelSpec>, lineage: Lineage, outcome: TrainingOutcome) throws -> VersionRecord {
        if let existing = try store.version(model.name, digest: lineage.digest) { return existing }
        let (passed, report) = Gates.evaluate(model.spec.promotion?.gates ?? [], metrics: outcome.metrics)
        return try store.registerVersion { number in
            VersionRecord(model: model.name, number: number, digest: lineage.digest, lineage: lineage.json,
                          metrics: Digest.canonicalJSON(outcome.metrics), artifactPath: outcome.artifactPath,
                          artifactDigest: outcome.artifactDigest, commit: lineage.commit, gatesPassed: passed,
                          gateReport: report, createdAt: Date())
        }
    }

    func closeIntent(_ key: String, status: String) throws {
        guard var intent = try store.intent(key) else { return }
        intent.status = status
        intent.updatedAt = Date()
        try store.save(intent)
    }

    /// Cleans up launches a killed controller left behind that this plan
    /// will not adopt: deploys are rolled back to what the record says;
    /// training runs whose runner is gone are closed as failed.
    func resumeInterrupted(_ plan: Plan) async throws {
        let adopted = Set(plan.actions.compactMap { a in
            a.kind == .train ? a.lineage.map { Planner.trainKey(model: a.model ?? "", digest: $0.digest) } : nil
        })
        for intent in try store.openIntents() where !adopted.contains(intent.key) {
            switch intent.kind {
            case "deploy":
                struct Detail: Decodable { var serve: ProcessIdentity }
                if let detail = try? JSONDecoder().decode(Detail.self, from: Data(intent.detail.utf8)) {
                    let recorded = try store.deployments().contains { $0.serveProcess == Digest.canonicalJSON(detail.serve) }
                    if !recorded { _ = await Processes.stop(detail.serve, grace: .seconds(5)) }
                }
                try closeIntent(intent.key, status: "failed")
                log("cleaned up an interrupted \(intent.object) rollout")
            case "train":
                struct Detail: Decodable { var runner: ProcessIdentity }
                let detail = try? JSONDecoder().decode(Detail.self, from: Data(intent.detail.utf8))
                if detail?.runner.isRunning != true {
                    try closeIntent(intent.key, status: "failed")
                    log("closed an interrupted training of \(intent.object)")
                }
            default:
                try closeIntent(intent.key, status: "failed")
            }
        }
    }
}

/// Promotion gates against a version's metrics.
public enum Gates {
    public static func evaluate(_ gates: [String], metrics: [String: Double]) -> (passed: Bool, report: String) {
        var failures: [String] = []
        for text in gates {
            guard let gate = MetricGate(parsing: text) else { continue }
            guard let value = metrics[gate.metric] else {
                failures.append("\(gate.metric) missing from metrics")
                continue
            }
            if !gate.passes(value) { failures.append("\(gate.metric) \(value) fails \(gate)") }
        }
        return (failures.isEmpty, failures.isEmpty ? (gates.isEmpty ? "no gates" : "all gates pass") : failures.joined(separator: "; "))
    }
}
