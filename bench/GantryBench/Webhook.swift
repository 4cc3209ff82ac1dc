import Controller
import Foundation
import HTTP
import Logging
import Planner
import Reconciler
import Server
import ServiceLifecycle
import State
import Synchronization
import Targets

/// Scenario 4: a forge's push webhook arrives at a running controller; time
/// from sending it to the reconcile loop dispatching the first action.
///
/// The controller is the real one, in-process: `ControllerLoop` and
/// `GantryServer` in one service group, the loop idle on an hour's
/// interval, following the 10,000-model repository that `git daemon` serves.
/// Each round pushes a one-line change to one model, then sends a signed
/// generic webhook for it. The clock stops when the reconciler announces
/// its first action (the train of that model), just before calling the
/// driver. The training itself is not what is measured: its runner is a
/// stand-in that exits at once, and the version is then registered as in
/// scenario 1, so every round starts from a controller in sync.
enum WebhookScenario {
    static let secret = "bench-webhook-secret"

    /// When the first action of the armed round was announced.
    final class Dispatch: Sendable {
        private let state = Mutex<(armed: Bool, at: Double?)>((false, nil))

        func arm() { state.withLock { $0 = (true, nil) } }

        func announced() {
            let now = Measure.now()
            state.withLock { if $0.armed { $0 = (false, now) } }
        }

        var at: Double? { state.withLock { $0.at } }
    }

    static func run(work: String, repository: String, pushes: Int, out: String) async throws {
        let shape = RepositoryShape()
        let remote = try Remote(work: work, name: "webhook", source: repository)
        let state = work + "/state-webhook"
        let fixture = try Controller(url: remote.url, state: state, seed: work + "/state-noop")
        note("scenario 4: registering a version for every model")
        try await fixture.registerMissingVersions()

        let dispatch = Dispatch()
        // The runner a train launches: this benchmark itself, which exits at
        // once on the unknown verb.
        let workspace = Workspace(root: state, executable: CommandLine.arguments[0])
        let reconciler = Reconciler(store: fixture.store, workspace: workspace, log: { _ in dispatch.announced() })
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let loop = ControllerLoop(
            source: fixture.source, reconciler: reconciler, status: ControllerStatus(source: fixture.source.name),
            configuration: .init(interval: .seconds(3600), jitter: false), logger: logger)
        let port = try freePort()
        let server = GantryServer(
            reconciler: reconciler, status: loop.status, wakeup: loop.wakeup, metrics: ControllerMetrics(),
            tokens: try TokenFile(entries: []), webhookSecret: secret,
            source: .init(location: remote.url, ref: "main"))
        let group = ServiceGroup(services: [loop, try server.application(host: "127.0.0.1", port: port, logger: logger)], logger: logger)
        let running = Task { try await group.run() }
        defer { running.cancel() }
        let status = loop.status
        try await waitUntil("the controller is up and idle", timeout: 120) {
            guard status.snapshot.loops >= 1 else { return false }
            return (try? await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:\(port)/healthz")))?.status == 200
        }

        // As a forge sends it: the push's commit in `after`, so each delivery
        // is a new one (the same body twice is refused as a replay).
        func hook(after commit: String) -> HTTPRequest {
            let body = Array(#"{"repository": "\#(remote.url)", "ref": "refs/heads/main", "after": "\#(commit)"}"#.utf8)
            return HTTPRequest(
                method: "POST", url: "http://127.0.0.1:\(port)/hooks/generic",
                headers: [
                    ("Content-Type", "application/json"),
                    ("X-Gantry-Signature", "sha256=" + WebhookProvider.signature(body: body, secret: secret)),
                ],
                body: body)
        }
        var toDispatch = Series("webhook sent to first action dispatched")
        var receipt = Series("webhook received to reconcile start (server side)")
        note("scenario 4: \(pushes) pushes")
        for r in 0..<(pushes + 3) {
            let i = (r * 613 + 7) % shape.models
            let model = shape.modelName(i)
            let versions = try fixture.store.versions(of: model).count
            try remote.push("Train \(model) for one more epoch") { clone in
                try Generator.bumpEpochs(in: clone + "/" + shape.modelFilePath(shape.file(ofModel: i)), model: model)
            }
            let commit = try Child.run(["git", "-C", remote.pusher, "rev-parse", "HEAD"]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let request = hook(after: commit)
            let loops = status.snapshot.loops
            dispatch.arm()
            let t0 = Measure.now()
            let answer = try await HTTPClient.shared.send(request)
            guard answer.status == 202 else { throw BenchFailure("the webhook answered \(answer.status): \(answer.text)") }
            try await waitUntil("the push to \(model) was reconciled", timeout: 60) { status.snapshot.loops > loops }
            guard let t1 = dispatch.at else { throw BenchFailure("the push to \(model) dispatched no action") }
            // What is pending after the reconcile is the train whose stand-in
            // runner did nothing; registering it, as if the model had been
            // retrained, starts every round in sync.
            guard let pending = status.snapshot.assessment?.plan, pending.isValid else { throw BenchFailure("no valid plan after the push") }
            try fixture.register(pending.actions.filter { $0.kind == .train })
            guard try fixture.store.versions(of: model).count == versions + 1 else {
                throw BenchFailure("the push to \(model) did not lead to exactly one new version")
            }
            if r >= 3 {  // the first rounds warm the caches
                toDispatch.samples.append(t1 - t0)
                receipt.samples.append(status.snapshot.lastWakeup?.latencySeconds ?? .nan)
            }
        }
        await group.triggerGracefulShutdown()
        _ = try? await running.value

        var result = ScenarioResult(id: "webhook")
        result.series = [toDispatch, receipt]
        result.facts = [
            "pushes measured": "\(toDispatch.samples.count)",
            "p50": ms(percentile(toDispatch.samples, 0.50)),
            "p99": ms(percentile(toDispatch.samples, 0.99)),
            "models": "\(shape.models)",
        ]
        try result.write(to: out)
    }

    /// The nearest-rank percentile.
    static func percentile(_ samples: [Double], _ p: Double) -> Double {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))]
    }

    static func waitUntil(_ what: String, timeout: Double, _ condition: () async throws -> Bool) async throws {
        let deadline = Measure.now() + timeout
        while Measure.now() < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(1))
        }
        throw BenchFailure("timed out waiting until \(what)")
    }
}
