import Foundation
import GantryTestSupport
import HTTP
import Testing

/// `gantry refresh`, `suspend`, `resume` and `wait` against a running
/// controller, as an operator at a terminal or a CI job would use them.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct RemoteCLITests {
    @Test func theCLIDrivesARunningControllerWithTokensAndRoles() async throws {
        let project = try await ServerProject()
        let controller = try await LiveController(project)
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()
        let tokens = makeTemporaryDirectory("cli-tokens")
        for (name, token) in [("viewer", Tokens.viewer), ("operator", Tokens.operator)] {
            try token.write(toFile: "\(tokens)/\(name)", atomically: true, encoding: .utf8)
        }
        var environment = ProcessInfo.processInfo.environment
        environment["GANTRY_SERVER"] = controller.base
        environment["GANTRY_TOKEN"] = nil
        func cli(_ arguments: [String], token: String? = nil) async throws -> CommandResult {
            try await gantry(arguments + (token.map { ["--token-file", "\(tokens)/\($0)"] } ?? []), environment: environment, timeout: .seconds(90))
        }

        // No token, then a viewer's: refused, nothing done.
        let loops = controller.loop.status.snapshot.loops
        let anonymous = try await cli(["refresh"])
        #expect(anonymous.code == 1 && anonymous.output.contains("answered 401"), "\(anonymous.output)")
        let viewer = try await cli(["refresh"], token: "viewer")
        #expect(viewer.code == 1 && viewer.output.contains("answered 403"), "\(viewer.output)")
        let unnamed = try await gantry(["refresh"], environment: environment.merging(["GANTRY_SERVER": ""]) { $1 })
        #expect(unnamed.code != 0 && unnamed.output.contains("--server URL or GANTRY_SERVER"), "\(unnamed.output)")
        #expect(controller.loop.status.snapshot.loops == loops, "a refused call starts no reconcile")

        // A pushed change: refresh, then wait for that commit to be live.
        try project.setQuality(from: "0.8", to: "0.9")
        project.write("manifests/deployment.yaml", project.deploymentManifest(version: 2))
        try await project.push("Ship v2")
        let head = try await git(["rev-parse", "HEAD"], in: project.directory).trimmingCharacters(in: .whitespacesAndNewlines)
        let refreshed = try await cli(["refresh"], token: "operator")
        #expect(refreshed.code == 0 && refreshed.output.contains("a reconcile starts now"), "\(refreshed.output)")
        let waited = try await cli(["wait", "deployment/demo-prod", "--for", "healthy", "--commit", head, "--timeout", "60s"], token: "viewer")
        #expect(waited.code == 0, "\(waited.output)")
        #expect(try controller.store.deployment("demo-prod")?.version == 2, "live when wait returned")
        let served = try await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:\(project.port)/")).text
        #expect(served.contains(#""version": "2""#), "\(served)")

        // Suspended, a Deployment is not synced; wait says so and gives up.
        let suspended = try await cli(["suspend", "Deployment/demo-prod", "--reason", "load test"], token: "operator")
        #expect(suspended.code == 0 && suspended.output.contains("Deployment/demo-prod is suspended"), "\(suspended.output)")
        // The call wakes the controller; its next plan shows the suspension.
        try await eventually("the plan shows the suspension") {
            controller.loop.status.snapshot.plan?.isSuspended("Deployment/demo-prod") == true
        }
        let stuck = try await cli(["wait", "deployment/demo-prod", "--timeout", "2s", "--interval", "200ms"], token: "viewer")
        #expect(stuck.code == 2, "\(stuck.output)")
        #expect(stuck.output.contains("timed out after 2s waiting for Deployment/demo-prod to be synced: Suspended: "), "\(stuck.output)")
        let resumed = try await cli(["resume", "deployment/demo-prod", "-o", "json"], token: "operator")
        #expect(resumed.code == 0 && resumed.output.contains(#""accepted" : true"#), "\(resumed.output)")
        let synced = try await cli(["wait", "deployment/demo-prod", "--timeout", "60s", "--interval", "200ms"], token: "viewer")
        #expect(synced.code == 0 && synced.output.contains("Deployment/demo-prod: synced"), "\(synced.output)")

        // A rollback through the controller commits and reconciles at once
        // (the controller's interval here is an hour).
        var operatorEnvironment = environment
        operatorEnvironment["GANTRY_TOKEN"] = Tokens.operator
        let rolledBack = try await gantry(["rollback", "demo-prod", "--reason", "v2 misbehaves"], environment: operatorEnvironment, timeout: .seconds(90))
        #expect(rolledBack.code == 0, "\(rolledBack.output)")
        try await eventually("v1 serves again", timeout: .seconds(60)) { try controller.store.deployment("demo-prod")?.version == 1 }
        let audit = try controller.store.auditLog(limit: 20).map { "\($0.actor) \($0.action)" }
        #expect(audit.contains("olivia rollback"), "\(audit)")

        // What the controller does not have is an error, not a wait.
        let missing = try await cli(["wait", "model/nope", "--timeout", "5s"], token: "viewer")
        #expect(missing.code == 1 && missing.output.contains("the controller has no Model/nope"), "\(missing.output)")
        let unknown = try await cli(["suspend", "deployment/nope"], token: "operator")
        #expect(unknown.code == 1 && unknown.output.contains("answered 404"), "\(unknown.output)")
        await controller.stop()
    }

    /// A pull request planned on a CI runner with no state: against the
    /// controller, the plan shows only what the pull request changes, with
    /// the serving version's metrics beside the new pin; against Git alone,
    /// everything looks new, and the plan says so.
    @Test func aPullRequestPlannedWithNoStateSeesOnlyItsChangesAgainstTheController() async throws {
        let project = try await ServerProject()
        let controller = try await LiveController(project)
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()
        var environment = ProcessInfo.processInfo.environment
        environment["GANTRY_TOKEN"] = Tokens.viewer
        environment["GANTRY_SERVER"] = nil
        for (version, quality) in [(2, "0.85"), (3, "0.9")] {
            try project.setQuality(from: version == 2 ? "0.8" : "0.85", to: quality)
            project.write("manifests/deployment.yaml", project.deploymentManifest(version: version))
            try await project.push("Ship v\(version)")
            _ = controller.loop.wakeup.request("test push")
            try await eventually("v\(version) serves", timeout: .seconds(60)) {
                try controller.store.deployment("demo-prod")?.version == version && controller.loop.status.snapshot.plan?.hasChanges == false
            }
        }

        // The pull request: new params and a pin to the version they train.
        try await git(["checkout", "-q", "-b", "pr"], in: project.directory)
        try project.setQuality(from: "0.9", to: "0.95")
        project.write("manifests/deployment.yaml", project.deploymentManifest(version: 4))
        try await project.commit("Try quality 0.95")
        try await git(["push", "-q", "origin", "pr"], in: project.directory)

        // A runner's fresh directory: no state, a clone of its own.
        let runner = makeTemporaryDirectory("ci-runner")
        func plan(_ extra: [String]) async throws -> [String: Any] {
            let result = try await gantry(
                ["plan", "--repo", project.url, "--base", "main", "--head", "pr", "--state-dir", runner + "/state", "-o", "json"] + extra,
                in: runner, environment: environment, timeout: .seconds(90))
            #expect(result.code == 2, "changes pending: \(result.output)")
            let json = result.output.drop { $0 != "{" }
            return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(result.output)")
        }
        func reasons(_ review: [String: Any]) -> [String] {
            (review["actions"] as? [[String: Any]] ?? []).map {
                "\($0["kind"] ?? "?") \($0["object"] ?? "?") v\($0["version"] ?? "?"): \($0["reason"] ?? "?")"
            }
        }

        let live = try await plan(["--server", controller.base])
        #expect((live["plannedAgainst"] as? String)?.hasPrefix("the controller at \(controller.base), as it observed its targets at ") == true, "\(live)")
        #expect(
            reasons(live) == ["train Model/demo v4: param quality changed (0.9 -> 0.95) since v3", "deploy Deployment/demo-prod v4: pinned 4, serving 3"],
            "only the pull request's changes: \(reasons(live))")
        let pin = try #require((live["pinChanges"] as? [[String: Any]])?.first)
        #expect(pin["from"] as? Int == 3 && pin["to"] as? Int == 4)
        #expect(pin["fromMetrics"] as? [String: Double] == ["accuracy": 0.9, "loss": 0.1], "v3's metrics: \(pin)")
        #expect(!FileManager.default.fileExists(atPath: runner + "/state/gantry.sqlite"), "planning makes no state")

        let alone = try await plan([])
        #expect((alone["plannedAgainst"] as? String)?.hasPrefix("Git alone") == true, "\(alone)")
        let pinAlone = try #require((alone["pinChanges"] as? [[String: Any]])?.first)
        #expect(pinAlone["fromMetrics"] == nil, "no state, no metrics: \(pinAlone)")
        #expect(reasons(alone) == ["train Model/demo v1: no version yet"], "\(reasons(alone))")
        #expect((alone["warnings"] as? [String]) == ["Deployment/demo-prod: pins demo@4, which does not exist (no versions yet)"])

        // The read commands, from the same fresh directory.
        func read(_ arguments: [String]) async throws -> String {
            let result = try await gantry(
                arguments + ["--server", controller.base, "--state-dir", runner + "/state"], in: runner, environment: environment, timeout: .seconds(60))
            #expect(result.code == 0, "\(arguments): \(result.output)")
            return result.output
        }
        let status = try await read(["status"])
        #expect(status.contains("demo-prod") && status.contains("demo@v3") && status.contains("serving"), "\(status)")
        let diff = try await read(["diff", "demo-prod", "-o", "json"])
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(diff.drop { $0 != "[" }.utf8)) as? [[String: Any]], "\(diff)")
        let version = fields.first { $0["field"] as? String == "version" }
        #expect(version?["desired"] as? String == "3" && version?["observed"] as? String == "3", "\(diff)")
        #expect(fields.allSatisfy { $0["inSync"] as? Bool == true }, "the controller's own drift, in sync: \(diff)")
        let noDeployment = try await gantry(["diff", "nope", "--server", controller.base], in: runner, environment: environment, timeout: .seconds(30))
        #expect(noDeployment.code == 1 && noDeployment.output.contains("has no Deployment nope"), "\(noDeployment.output)")
        let versions = try await read(["versions", "demo", "-o", "json"])
        let numbers = (try JSONSerialization.jsonObject(with: Data(versions.drop { $0 != "[" }.utf8)) as? [[String: Any]])?.compactMap { $0["number"] as? Int }
        #expect(numbers == [1, 2, 3], "\(versions)")
        let lineage = try await read(["lineage", "demo@3"])
        #expect(lineage.contains("param       quality = 0.9") && lineage.contains("parent      v2: param quality changed (0.85 -> 0.9)"), "\(lineage)")
        let logs = try await read(["logs", "demo"])
        #expect(logs.contains("==> train (") && logs.contains("on the controller) <=="), "\(logs)")
        let noRun = try await gantry(["logs", "nope", "--server", controller.base], in: runner, environment: environment, timeout: .seconds(30))
        #expect(noRun.code == 1 && noRun.output.contains("no run of nope"), "\(noRun.output)")
        let history = try await read(["history", "--limit", "2"])
        #expect(history.contains("Ship v3"), "\(history)")
        #expect(!FileManager.default.fileExists(atPath: runner + "/state/gantry.sqlite"), "reading makes no state")

        // The state a viewer reads, and what the controller refuses.
        let anonymous = try await controller.get("/api/v1/state")
        #expect(anonymous.status == 401)
        await controller.stop()
    }
}
