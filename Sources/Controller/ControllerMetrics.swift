import Foundation
import Planner
import Prometheus
import State

/// The controller's Prometheus metrics, in one registry that `/metrics`
/// renders. Names follow Prometheus conventions: a `gantry_` prefix, base
/// units in the name, `_total` on counters, `_info` on info metrics.
///
///     let metrics = ControllerMetrics()
///     metrics.reconciled(after: .seconds(2), result: "applied")
///     print(metrics.registry.emitToString())
public final class ControllerMetrics: @unchecked Sendable {
    public let registry: PrometheusCollectorRegistry
    private let lock = NSLock()
    /// The info gauges of what serves now, by their label values, so a
    /// deployment that moves to another version drops its old series.
    private var served: [[String]: Gauge] = [:]

    static let reconcileBuckets: [Duration] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900].map { .milliseconds(Int64($0 * 1000)) }
    static let fetchBuckets: [Duration] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10].map { .milliseconds(Int64($0 * 1000)) }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), version: String = "") {
        self.registry = registry
        registry.makeGauge(name: "gantry_build_info", labels: [("version", version)], help: "The running gantry build.").set(to: 1)
        for result in ["applied", "nothing-to-do", "failed", "invalid", "interrupted", "error"] {
            _ = registry.makeCounter(name: "gantry_reconciles_total", labels: [("result", result)],
                                     help: "Reconcile loops by result.")
        }
        for kind in ["Model", "Deployment"] { outOfSync(kind).set(to: 0) }
    }

    public func reconciled(after duration: Duration, result: String) {
        registry.makeDurationHistogram(name: "gantry_reconcile_duration_seconds", labels: [("result", result)],
                                       buckets: Self.reconcileBuckets, help: "Time from fetch to the end of apply, by result.")
            .record(duration)
        registry.makeCounter(name: "gantry_reconciles_total", labels: [("result", result)], help: "Reconcile loops by result.").increment()
    }

    public func fetched(after duration: Duration, succeeded: Bool) {
        registry.makeDurationHistogram(name: "gantry_git_fetch_duration_seconds", labels: [("result", succeeded ? "success" : "error")],
                                       buckets: Self.fetchBuckets, help: "Time to fetch the followed Git repository and read its manifests.")
            .record(duration)
    }

    /// `result` is succeeded, failed or skipped.
    public func action(kind: String, result: String) {
        registry.makeCounter(name: "gantry_actions_total", labels: [("kind", kind), ("result", result)],
                             help: "Plan actions executed, by kind and result.").increment()
    }

    public func webhook(provider: String, result: String) {
        registry.makeCounter(name: "gantry_webhook_deliveries_total", labels: [("provider", provider), ("result", result)],
                             help: "Webhook deliveries received, by provider and what became of them.").increment()
    }

    public func apiRequest(method: String, status: Int) {
        registry.makeCounter(name: "gantry_http_requests_total", labels: [("method", method), ("code", "\(status)")],
                             help: "HTTP requests served, by method and status code.").increment()
    }

    func outOfSync(_ kind: String) -> Gauge {
        registry.makeGauge(name: "gantry_objects_out_of_sync", labels: [("kind", kind)],
                           help: "Objects whose pending plan has an action, by kind.")
    }

    /// Records the pending plan's out-of-sync counts and what serves now.
    public func observe(plan: Plan, deployments: [DeploymentRecord]) {
        var counts: [String: Set<String>] = ["Model": [], "Deployment": []]
        for action in plan.actions {
            let kind = String(action.object.prefix { $0 != "/" })
            counts[kind, default: []].insert(action.object)
        }
        for (kind, objects) in counts { outOfSync(kind).set(to: Double(objects.count)) }

        lock.lock()
        defer { lock.unlock() }
        var now: [[String]: Gauge] = [:]
        for d in deployments {
            let key = [d.name, d.model, "\(d.version)", d.target]
            now[key] = served[key] ?? registry.makeGauge(
                name: "gantry_served_version_info",
                labels: [("deployment", d.name), ("model", d.model), ("version", "\(d.version)"), ("target", d.target)],
                help: "The model version each Deployment serves; the value is always 1.")
            now[key]?.set(to: 1)
        }
        for (key, gauge) in served where now[key] == nil { registry.unregisterGauge(gauge) }
        served = now
    }
}
