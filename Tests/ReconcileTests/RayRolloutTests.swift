import Foundation
import GantryTestSupport
import HTTP
import Testing

@testable import Reconciler
@testable import State
@testable import Targets

extension RayTests {
    /// One Deployment on this machine, two `gantry agent` nodes and the Ray
    /// cluster, in three waves judged by an evaluation command. The
    /// command fails in wave 2 (the test commits the file it looks for with
    /// v2): local, node-a and Ray, which took v2, go back to v1 and answer
    /// v1; node-b, which had started v2 early, never switches; the
    /// controller commits the pin back to main (promotion is automatic),
    /// sends one notification, and its next reconciles leave v2 alone.
    @Test func aRolloutAcrossLocalTwoNodesAndRayFailingItsGateInWaveTwoPutsEveryTargetBack() async throws {
        let (a, b) = (try await NodeAgent.start("node-a"), try await NodeAgent.start("node-b"))
        let project = try await TestProject(port: freePort())
        let (portA, portB) = (freePort(), freePort())
        // The controller follows a bare clone, as it would a forge, so that
        // its pin-back commit can land on the branch itself.
        let bare = makeTemporaryDirectory("gantry-bare") + "/project.git"
        try await git(["clone", "-q", "--bare", project.directory, bare], in: project.directory)
        try await git(["remote", "add", "origin", bare], in: project.directory)
        func push(_ message: String) async throws {
            try await project.commit(message)
            try await git(["push", "-q", "origin", "HEAD:main"], in: project.directory)
        }
        let harness = try Harness(project, location: bare)
        defer {
            Task {
                await harness.tearDown()
                for node in [a, b] {
                    await node.stopServing()
                    await node.stop()
                }
            }
        }
        let tokenFile = makeTemporaryDirectory("agent-token") + "/token"
        try NodeAgent.token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        project.write(
            "manifests/targets.yaml",
            [a, b].map { node in
                """
                apiVersion: gantry.dev/v1alpha1
                kind: Target
                metadata: { name: \(node.name) }
                spec:
                  type: agent
                  endpoint: \(node.endpoint)
                  credentials: { token: { file: \(tokenFile) } }
                """
            }.joined(separator: "\n---\n") + """

                ---
                apiVersion: gantry.dev/v1alpha1
                kind: Target
                metadata: { name: ray }
                spec: { type: ray, endpoint: \(head.dashboard), storage: \(makeTemporaryDirectory("ray-storage")) }
                """)
        project.write("src/serve_app.py", RayProject.serveApp)
        project.write("src/eval.py", Self.evaluation)
        try project.write(
            "manifests/model.yaml",
            String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8)
                .replacingOccurrences(of: "policy: manual", with: "policy: auto"))
        func deployment(version: Int) -> String {
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Deployment
            metadata: { name: demo-prod }
            spec:
              model: demo
              version: \(version)
              address: 127.0.0.1:\(project.port)
              serve:
                command: [python3, serve.py, --model, "${artifact}", --port, "${port}", --version, "${version}"]
                importPath: "serve_app:build"
                workingDir: src
              targets:
                - { target: local }
                - { target: node-a, address: "127.0.0.1:\(portA)" }
                - { target: node-b, address: "127.0.0.1:\(portB)" }
                - { target: ray }
              strategy:
                type: waves
                waves: [[local], [node-a, ray], [node-b]]
                analysis: { command: [python3, src/eval.py, "${address}", "${version}", "${target}", "${wave}"] }
              autoRollback: true
              healthCheck: { path: /health, timeout: 2m, interval: 100ms }
            """
        }
        project.write("manifests/deployment.yaml", deployment(version: 1))
        try await push("Serve on this machine, two nodes and Ray, in waves with an evaluation")

        let (plan, first) = try await harness.apply()
        #expect(first.result == .applied, "\(first.failed.map(\.error))")
        #expect(plan.actions.map(\.kind) == [.train, .rollout], "\(plan.text)")
        func answers() async throws -> [String] {
            var out: [String] = []
            for (name, url) in [
                ("local", "http://127.0.0.1:\(project.port)/"), ("node-a", "http://127.0.0.1:\(portA)/"),
                ("node-b", "http://127.0.0.1:\(portB)/"), ("ray", "http://127.0.0.1:\(head.servePort)/demo-prod"),
            ] {
                let body = try await HTTPClient.shared.send(HTTPRequest(url: url, timeout: .seconds(10))).body
                let json = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
                out.append("\(name) v\(json?["version"].map { "\($0)" } ?? "?")")
            }
            return out
        }
        #expect(try await answers() == ["local v1", "node-a v1", "node-b v1", "ray v1"])
        let evaluated = (try? FileManager.default.contentsOfDirectory(atPath: harness.workspace.deployment("demo-prod"))) ?? []
        #expect(!evaluated.contains { $0.hasPrefix("analysis-") }, "a first deploy changes no version and is not analysed: \(evaluated)")

        // v2, with the file that fails the evaluation of wave 2.
        try project.setQuality("0.95")
        project.write("manifests/deployment.yaml", deployment(version: 2))
        project.write("fail-wave-2", "the holdout set says no\n")
        try await push("Train and pin v2")
        let hook = try FaultServer { _ in .status(204) }
        defer { hook.stop() }
        let url = makeTemporaryDirectory("hook") + "/url"
        try "\(hook.endpoint)/hook".write(toFile: url, atomically: true, encoding: .utf8)
        let controller = try await gantry(
            [
                "controller", "--repo", bare, "--branch", "main", "--state-dir", harness.workspace.root, "--interval", "1s",
                "--iterations", "3", "--notify", "file:" + url,
            ], timeout: .seconds(240))
        #expect(controller.code == 0, "\(controller.output)")

        #expect(try await answers() == ["local v1", "node-a v1", "node-b v1", "ray v1"], "every target answers the old version")
        #expect(try harness.store.deployments(named: "demo-prod").map { "\($0.target) v\($0.version)" } == ["local v1", "node-a v1", "node-b v1", "ray v1"])
        #expect(try harness.store.versions(of: "demo").map(\.number) == [1, 2])
        let logs = Set(try FileManager.default.contentsOfDirectory(atPath: harness.workspace.deployment("demo-prod")).filter { $0.hasPrefix("analysis-") })
        #expect(
            logs == ["analysis-v2-local-100.log", "analysis-v2-node-a-100.log", "analysis-v2-ray-100.log"], "waves 1 and 2 evaluated, wave 3 never ran: \(logs)"
        )

        // Git agrees: a pin-back commit on the branch the controller follows,
        // after which the hold is released (Git no longer pins v2).
        let pinned = try await git(["show", "main:manifests/deployment.yaml"], in: bare)
        #expect(pinned.contains("version: 1"), "\(pinned)")
        let subject = try await git(["log", "-1", "--format=%s", "main"], in: bare).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(subject == "gantry: roll back demo-prod to demo@v1 (from v2)", "\(subject)")
        #expect(try harness.store.hold("demo-prod") == nil)

        // One notification of the failure; the later reconciles were quiet.
        let events = hook.requests.compactMap { request -> (String, String)? in
            guard let json = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any] else { return nil }
            return (json["event"] as? String ?? "", json["message"] as? String ?? "")
        }
        let failures = events.filter { $0.0 == "sync-failed" || $0.0 == "rolled-back" }
        #expect(failures.count == 1, "\(events)")
        let reason = failures.first?.1 ?? ""
        #expect(reason.contains("wave 2 of 3: node-a: analysis command python3 src/eval.py 127.0.0.1:\(portA) 2 node-a 2 exited with code 1"), "\(reason)")
        #expect(reason.contains("ray: analysis command python3 src/eval.py http://127.0.0.1:\(head.servePort)/demo-prod 2 ray 2"), "\(reason)")
        #expect(reason.contains("holdout accuracy on ray is below the bar"), "the command's own words: \(reason)")
        #expect(reason.contains("rolled back local to v1, node-a to v1, ray to v1"), "\(reason)")
        #expect(reason.contains("Git: "), "\(reason)")
        #expect(events.filter { $0.0 == "retrained" }.count == 1, "\(events)")

        // Nothing is left to do, and v2 is not tried again.
        let again = try await harness.plan()
        #expect(again.actions.isEmpty, "\(again.text)")

        let stopped = try await harness.reconciler.destroy(actor: "test", manifests: try await RayProject.desired(harness).manifests)
        #expect(stopped.map(\.name).contains("demo-prod"))
        try await head.waitFor("demo-prod", status: nil)
    }

    /// An evaluation of one target: it must answer the version being rolled
    /// out, and a file in the revision named `fail-wave-<wave>` fails it.
    static let evaluation = """
        import json, os, sys, urllib.request
        address, version, target, wave = sys.argv[1:5]
        url = address if address.startswith("http") else "http://" + address + "/"
        body = json.load(urllib.request.urlopen(url, timeout=10))
        if str(body["version"]) != version:
            sys.exit(f"{target} answers version {body['version']}, not {version}")
        if os.path.exists(f"fail-wave-{wave}"):
            sys.exit(f"holdout accuracy on {target} is below the bar")
        print(f"{target} v{version}: ok")
        """
}
