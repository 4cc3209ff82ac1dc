import Controller
import Foundation
import GantryTestSupport
import Planner
import Reconciler
import StableAddress
import Testing

@Suite(.serialized, .timeLimit(.minutes(5)))
struct MetricsTests {
    @Test func metricsParseAsPrometheusTextWithConventionalNamesAndLabels() async throws {
        let controller = try await LiveController(try await ServerProject())
        defer { Task { await controller.stop() } }  // on a failure; the end of the test awaits it
        try await controller.waitForFirstReconcile()
        _ = try await controller.get("/api/v1/status")  // one 401, counted

        let response = try await controller.get("/metrics")
        #expect(response.status == 200)
        #expect(response.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let m = try PrometheusText(response.text)

        #expect(m.types["gantry_reconcile_duration_seconds"] == "histogram")
        #expect(m.types["gantry_git_fetch_duration_seconds"] == "histogram")
        #expect(m.types["gantry_actions_total"] == "counter")
        #expect(m.types["gantry_objects_out_of_sync"] == "gauge")
        #expect(m.types["gantry_served_version_info"] == "gauge")
        #expect(m.value("gantry_reconcile_duration_seconds_count", ["result": "applied"]) == 1)
        #expect((m.value("gantry_git_fetch_duration_seconds_count", ["result": "success"]) ?? 0) >= 1)
        #expect(m.value("gantry_actions_total", ["kind": "train", "result": "succeeded"]) == 1)
        #expect(m.value("gantry_actions_total", ["kind": "deploy", "result": "succeeded"]) == 1)
        #expect(m.value("gantry_objects_out_of_sync", ["kind": "Model"]) == 0)
        #expect(m.value("gantry_objects_out_of_sync", ["kind": "Deployment"]) == 0)
        #expect(m.value("gantry_served_version_info", ["deployment": "demo-prod", "model": "demo", "version": "1", "target": "local"]) == 1)
        #expect(m.value("gantry_build_info", ["version": "test"]) == 1)
        // The training's duration, and how long the deploy queued behind it.
        #expect(m.types["gantry_action_duration_seconds"] == "histogram")
        #expect(m.value("gantry_action_duration_seconds_count", ["kind": "train", "result": "succeeded"]) == 1)
        #expect((m.value("gantry_action_duration_seconds_sum", ["kind": "train", "result": "succeeded"]) ?? 0) > 0)
        #expect(m.value("gantry_action_queue_seconds_count", ["kind": "deploy"]) == 1)
        #expect(
            (m.value("gantry_action_queue_seconds_sum", ["kind": "deploy"]) ?? 0)
                >= (m.value("gantry_action_duration_seconds_sum", ["kind": "train", "result": "succeeded"]) ?? .infinity),
            "the deploy waited for the training")
        #expect(m.value("gantry_http_requests_total", ["method": "GET", "code": "401"]) == 1)
        for name in m.types.keys { #expect(name.hasPrefix("gantry_"), "\(name)") }
        for (name, type) in m.types where type == "counter" { #expect(name.hasSuffix("_total"), "\(name)") }

        // Each object with its sync, health and version, like argocd_app_info.
        #expect(m.types["gantry_object_info"] == "gauge")
        let synced = ["kind": "Deployment", "name": "demo-prod", "sync": "Synced", "health": "Healthy", "version": "1"]
        #expect(m.value("gantry_object_info", synced) == 1, "\(response.text)")
        #expect(m.value("gantry_object_info", ["kind": "Model", "name": "demo", "sync": "Synced", "health": "", "version": "1"]) == 1)
        let suspend = try await controller.send("POST", "/api/v1/deployments/demo-prod/suspend", token: Tokens.operator)
        #expect(suspend.status == 200)
        try await eventually("the plan shows the suspension") {
            controller.loop.status.snapshot.plan?.blocked.contains { $0.object == "Deployment/demo-prod" } == true
        }
        let after = try PrometheusText(try await controller.get("/metrics").text)
        #expect(after.value("gantry_object_info", synced) == nil, "the old series is gone")
        #expect(after.value("gantry_object_info", synced.merging(["sync": "Suspended"]) { $1 }) == 1)
        await controller.stop()
    }

    @Test func aCanaryUnderWayIsSeenUntilItEndsAndAHeldVersionIsAGauge() throws {
        let metrics = ControllerMetrics(version: "test")
        let step = CanaryProgress.Step(
            deployment: "demo-prod", target: "local", version: 2, fromVersion: 1, step: 1, steps: 3, percent: 10,
            readings: BackendStats(requests: 40, failures: 2), since: Date())
        metrics.observe(canaries: [step])
        let labels = ["deployment": "demo-prod", "target": "local"]
        var m = try PrometheusText(String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self))
        #expect(m.value("gantry_rollout_canary_weight_percent", labels) == 10)
        #expect(m.value("gantry_rollout_canary_step", labels) == 1)
        #expect(m.value("gantry_rollout_canary_requests", labels) == 40)
        #expect(m.value("gantry_rollout_canary_error_ratio", labels) == 0.05)
        metrics.observe(canaries: [])
        m = try PrometheusText(String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self))
        #expect(m.value("gantry_rollout_canary_weight_percent", labels) == nil, "gone once the canary ends")

        let held = Plan(
            revision: Plan.Revision(source: "git", commit: "c", author: "a", subject: "s"), diagnostics: [], actions: [], synced: [],
            blocked: [Note("Deployment/demo-prod", .held(model: "demo", version: 2, previous: 1, reason: "canary failed", rollsBack: true))])
        metrics.observe(plan: held, deployments: [])
        m = try PrometheusText(String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self))
        #expect(m.value("gantry_rollout_held", ["deployment": "demo-prod"]) == 1)
        metrics.observe(plan: Plan(revision: held.revision, diagnostics: [], actions: [], synced: [], blocked: []), deployments: [])
        m = try PrometheusText(String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self))
        #expect(m.value("gantry_rollout_held", ["deployment": "demo-prod"]) == nil)
    }

    @Test func theParserRejectsWhatPrometheusWould() {
        #expect(throws: PrometheusText.Failure.self) { try PrometheusText("# TYPE a counter\na{1x=\"v\"} 1\n") }
        #expect(throws: PrometheusText.Failure.self) { try PrometheusText("b 1\n") }
        #expect(throws: PrometheusText.Failure.self) {
            try PrometheusText("# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1\n")
        }
    }
}
