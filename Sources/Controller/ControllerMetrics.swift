import Foundation
import Planner
import Prometheus
import Reconciler
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
    private var canaryGauges: [String: [Gauge]] = [:]
    private var heldGauges: [String: Gauge] = [:]
    private var objectGauges: [[String]: Gauge] = [:]

    static let reconcileBuckets: [Duration] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900].map { .milliseconds(Int64($0 * 1000)) }
    static let fetchBuckets: [Duration] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10].map { .milliseconds(Int64($0 * 1000)) }

    /// `gantry_<name>_<unit>` (no unit: `gantry_<name>`), with its help line.
    static func name(_ name: String, unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "gantry", metricName: name, unitName: unit, helpText: help)
    }

    static var reconciles: MetricNameDescriptor { name("reconciles", unit: "total", help: "Reconcile loops by result.") }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), version: String = "") {
        self.registry = registry
        registry.makeGauge(descriptor: Self.name("build", unit: "info", help: "The running gantry build."), labels: [("version", version)]).set(to: 1)
        for result in ["applied", "nothing-to-do", "failed", "invalid", "interrupted", "error"] {
            _ = registry.makeCounter(descriptor: Self.reconciles, labels: [("result", result)])
        }
        for kind in ["Model", "Deployment"] { outOfSync(kind).set(to: 0) }
    }

    public func reconciled(after duration: Duration, result: String) {
        registry.makeDurationHistogram(
            descriptor: Self.name("reconcile_duration", unit: "seconds", help: "Time from fetch to the end of apply, by result."),
            labels: [("result", result)], buckets: Self.reconcileBuckets
        )
        .record(duration)
        registry.makeCounter(descriptor: Self.reconciles, labels: [("result", result)]).increment()
    }

    public func fetched(after duration: Duration, succeeded: Bool) {
        registry.makeDurationHistogram(
            descriptor: Self.name("git_fetch_duration", unit: "seconds", help: "Time to fetch the followed Git repository and read its manifests."),
            labels: [("result", succeeded ? "success" : "error")], buckets: Self.fetchBuckets
        )
        .record(duration)
    }

    /// Buckets for actions: a deploy takes about a second, a training
    /// minutes to hours.
    static let actionBuckets: [Duration] = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400].map {
        .milliseconds(Int64($0 * 1000))
    }

    /// How long an action took (a training's duration is `kind="train"`)
    /// and how long it waited behind the actions before it in its apply.
    public func timed(_ timing: Reconciler.Timing) {
        registry.makeDurationHistogram(
            descriptor: Self.name("action_duration", unit: "seconds", help: "Time each action took, by kind (train is a training) and result."),
            labels: [("kind", timing.kind.rawValue), ("result", timing.result)], buckets: Self.actionBuckets
        )
        .record(timing.took)
        registry.makeDurationHistogram(
            descriptor: Self.name(
                "action_queue", unit: "seconds", help: "Time each action waited behind the actions before it in its reconcile, by kind."),
            labels: [("kind", timing.kind.rawValue)], buckets: Self.actionBuckets
        )
        .record(timing.queued)
    }

    /// `result` is succeeded, failed or skipped.
    public func action(kind: String, result: String) {
        registry.makeCounter(
            descriptor: Self.name("actions", unit: "total", help: "Plan actions executed, by kind and result."),
            labels: [("kind", kind), ("result", result)]
        ).increment()
    }

    /// 1 while reconcile loops fail (the controller is degraded), else 0.
    public func degraded(_ on: Bool) {
        registry.makeGauge(
            descriptor: Self.name(
                "controller_degraded", unit: "",
                help: "1 while reconcile loops fail (Git or the state directory unusable); what serves keeps serving.")
        )
        .set(to: on ? 1 : 0)
    }

    public func webhook(provider: String, result: String) {
        registry.makeCounter(
            descriptor: Self.name("webhook_deliveries", unit: "total", help: "Webhook deliveries received, by provider and what became of them."),
            labels: [("provider", provider), ("result", result)]
        ).increment()
    }

    public func apiRequest(method: String, status: Int) {
        registry.makeCounter(
            descriptor: Self.name("http_requests", unit: "total", help: "HTTP requests served, by method and status code."),
            labels: [("method", method), ("code", "\(status)")]
        ).increment()
    }

    func outOfSync(_ kind: String) -> Gauge {
        registry.makeGauge(
            descriptor: Self.name("objects_out_of_sync", unit: "", help: "Objects whose pending plan has an action, by kind."),
            labels: [("kind", kind)])
    }

    /// The canaries under way: the new version's share of requests, the
    /// step, and what the forwarder counted for it in this step.
    public func observe(canaries: [CanaryProgress.Step]) {
        lock.lock()
        defer { lock.unlock() }
        var now: [String: [Gauge]] = [:]
        for c in canaries {
            let labels = [("deployment", c.deployment), ("target", c.target)]
            let gauges = [
                registry.makeGauge(
                    descriptor: Self.name("rollout_canary_weight", unit: "percent", help: "A canary's share of requests, by Deployment."),
                    labels: labels),
                registry.makeGauge(
                    descriptor: Self.name("rollout_canary_step", unit: "", help: "The step a canary is on (1-based)."), labels: labels),
                registry.makeGauge(
                    descriptor: Self.name("rollout_canary_requests", unit: "", help: "The new version's requests in this step."),
                    labels: labels),
                registry.makeGauge(
                    descriptor: Self.name("rollout_canary_error", unit: "ratio", help: "The new version's error rate in this step."),
                    labels: labels),
            ]
            gauges[0].set(to: Double(c.percent))
            gauges[1].set(to: Double(c.step))
            gauges[2].set(to: Double(c.readings.requests))
            gauges[3].set(to: c.readings.errorRate ?? 0)
            now[c.deployment] = gauges
        }
        for (deployment, gauges) in canaryGauges where now[deployment] == nil { gauges.forEach(registry.unregisterGauge) }
        canaryGauges = now
    }

    /// One object as `gantry_object_info` shows it.
    public struct ObjectInfo: Sendable {
        public var kind, name, sync, health, version: String

        public init(kind: String, name: String, sync: String, health: String, version: String) {
            (self.kind, self.name, self.sync, self.health, self.version) = (kind, name, sync, health, version)
        }
    }

    /// `gantry_object_info{kind,name,sync,health,version} 1` for each Model
    /// and Deployment, like Argo CD's `argocd_app_info`: an object whose
    /// state changes drops its old series.
    public func observe(objects: [ObjectInfo]) {
        lock.lock()
        defer { lock.unlock() }
        var now: [[String]: Gauge] = [:]
        for o in objects {
            let key = [o.kind, o.name, o.sync, o.health, o.version]
            now[key] =
                objectGauges[key]
                ?? registry.makeGauge(
                    descriptor: Self.name(
                        "object", unit: "info",
                        help: "Each Model and Deployment with its sync and health (as the API shows them) and version; the value is always 1."),
                    labels: [("kind", o.kind), ("name", o.name), ("sync", o.sync), ("health", o.health), ("version", o.version)])
            now[key]?.set(to: 1)
        }
        for (key, gauge) in objectGauges where now[key] == nil { registry.unregisterGauge(gauge) }
        objectGauges = now
    }

    /// Records the pending plan's out-of-sync counts and what serves now.
    public func observe(plan: Plan, deployments: [DeploymentRecord]) {
        var counts: [String: Set<String>] = ["Model": [], "Deployment": []]
        for action in plan.actions {
            let kind = String(action.object.prefix { $0 != "/" })
            counts[kind, default: []].insert(action.object)
        }
        for (kind, objects) in counts { outOfSync(kind).set(to: Double(objects.count)) }
        var held: Set<String> = []
        for note in plan.blocked {
            if case .held = note.state { held.insert(String(note.object.dropFirst("Deployment/".count))) }
        }

        lock.lock()
        defer { lock.unlock() }
        var now: [[String]: Gauge] = [:]
        for d in deployments {
            let key = [d.name, d.model, "\(d.version)", d.target]
            now[key] =
                served[key]
                ?? registry.makeGauge(
                    descriptor: Self.name("served_version", unit: "info", help: "The model version each Deployment serves; the value is always 1."),
                    labels: [("deployment", d.name), ("model", d.model), ("version", "\(d.version)"), ("target", d.target)])
            now[key]?.set(to: 1)
        }
        for (key, gauge) in served where now[key] == nil { registry.unregisterGauge(gauge) }
        served = now
        for deployment in held where heldGauges[deployment] == nil {
            let gauge = registry.makeGauge(
                descriptor: Self.name("rollout_held", unit: "", help: "1 while a Deployment's pinned version is held after a failed rollout."),
                labels: [("deployment", deployment)])
            gauge.set(to: 1)
            heldGauges[deployment] = gauge
        }
        for (deployment, gauge) in heldGauges where !held.contains(deployment) {
            registry.unregisterGauge(gauge)
            heldGauges[deployment] = nil
        }
    }
}
