import Foundation
import GantryTestSupport
import Glibc
import HTTP
import Manifests
import Processes
import Testing

@testable import Lineage
@testable import Planner
@testable import Reconciler
@testable import State
@testable import Targets

/// The `agent` target against real `gantry agent` processes: two agents on
/// their own ports and directories stand in for two on-prem nodes.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct AgentTests {
    /// The demo project with its Model trained on `train` and its
    /// Deployment served on `serve`, both agent targets.
    func project(nodes: [(name: String, endpoint: String)], train: String, serve: String) async throws -> TestProject {
        let project = try await TestProject(port: freePort())
        let tokenFile = makeTemporaryDirectory("agent-token") + "/token"
        try NodeAgent.token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        project.write(
            "manifests/targets.yaml",
            nodes.map { node in
                """
                apiVersion: gantry.dev/v1alpha1
                kind: Target
                metadata: { name: \(node.name) }
                spec:
                  type: agent
                  endpoint: \(node.endpoint)
                  credentials: { token: { file: \(tokenFile) } }
                """
            }.joined(separator: "\n---\n"))
        let model = try String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8)
        project.write("manifests/model.yaml", model.replacingOccurrences(of: "target: local", with: "target: \(train)"))
        project.write(
            "manifests/deployment.yaml",
            project.deployment(version: 1).replacingOccurrences(of: "{ target: local }", with: "{ target: \(serve) }"))
        try await project.commit("Train and serve on agent nodes")
        return project
    }

    func withNodes(_ names: [String], _ body: ([NodeAgent]) async throws -> Void) async throws {
        var nodes: [NodeAgent] = []
        for name in names { nodes.append(try await NodeAgent.start(name)) }
        do { try await body(nodes) } catch {
            for node in nodes {
                await node.stopServing()
                await node.stop()
            }
            throw error
        }
        for node in nodes {
            await node.stopServing()
            await node.stop()
        }
    }

    func status(_ node: NodeAgent, _ deployment: String) async throws -> AgentAPI.DeploymentStatus {
        try await node.client().get("/v1/deployments/\(deployment)")
    }

    @Test func aModelTrainedOnOneNodeIsServedOnAnotherAndAKilledServerIsRepaired() async throws {
        try await withNodes(["node-a", "node-b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            let project = try await project(nodes: [(a.name, a.endpoint), (b.name, b.endpoint)], train: "node-a", serve: "node-b")
            let harness = try Harness(project)

            let (plan, report) = try await harness.apply()
            #expect(plan.actions.map(\.kind) == [.train, .deploy])
            #expect(report.ok, "\(report.failed.map(\.error))")
            let version = try #require(try harness.store.version("demo", 1))
            #expect(
                version.artifactDigest == "sha256:" + (try Digest.sha256(file: version.artifactPath)),
                "the artifact is kept on the controller by its digest")
            #expect(version.artifactPath.hasPrefix(harness.workspace.root))
            #expect(version.metricValues["accuracy"] == 0.9)
            // Trained on node A: its run directory is there, not on B.
            let runs = try FileManager.default.contentsOfDirectory(atPath: a.directory + "/runs")
            #expect(runs.count == 1 && runs[0].hasPrefix("demo-"))
            #expect(!FileManager.default.fileExists(atPath: b.directory + "/runs"))
            let run: AgentAPI.RunStatus = try await a.client().get("/v1/runs/\(runs[0])")
            #expect(run.state == "succeeded" && run.artifact?.digest == version.artifactDigest)
            #expect(try await a.client().send("GET", "/v1/runs/\(runs[0])/log").text.contains("==> runner.log <=="))

            // Served on node B behind the stable address.
            #expect(try await harness.get().contains(#""version": "1""#))
            let record = try #require(try harness.store.deployment("demo-prod"))
            #expect(record.target == "node-b" && record.detail.contains(b.endpoint))
            let served = try await status(b, "demo-prod")
            #expect(served.record.version == 1 && served.observed.serving && served.observed.healthy == true)
            #expect(try await b.client().send("GET", "/v1/deployments/demo-prod/log").status == 200)

            #expect(try await harness.plan().actions.isEmpty, "a second apply has nothing to do")
            #expect(try await harness.apply().report.result == .nothingToDo)

            // The serving process dies on node B: observed as drift, repaired.
            let serve = try #require(LocalServing.of(served.record)?.serve)
            kill(serve.pid, SIGKILL)
            try await eventually("the killed server is gone") { !serve.isRunning }
            let drift = try await harness.plan()
            #expect(drift.actions.map(\.kind) == [.deploy])
            #expect(drift.actions.first?.reason.contains("drift") == true)
            let repaired = try await harness.apply().report
            #expect(repaired.ok, "\(repaired.failed.map(\.error))")
            #expect(try await harness.get().contains(#""version": "1""#))
            #expect(LocalServing.of(try await status(b, "demo-prod").record)?.serve != LocalServing.of(served.record)?.serve)
            #expect(try await harness.plan().actions.isEmpty)

            // Removed from Git: pruned on the node.
            project.remove("manifests/deployment.yaml")
            try await project.commit("Retire demo-prod")
            #expect(try await harness.apply().report.ok)
            #expect(try await b.client().send("GET", "/v1/deployments/demo-prod", accept: [404]).status == 404)
        }
    }

    /// One Deployment on this machine and two real nodes, in waves; the
    /// nodes of wave 2 are shipped the same revision at the same time. Wave
    /// 2 fails on node-b (its new address is taken), so local and node-a
    /// (which took v2 in the same wave) go back to v1 and answer v1, Git
    /// gets a rollback branch, and the held v2 is not tried again.
    @Test func aWaveThatFailsOnANodePutsEveryTargetBackAndHoldsTheVersion() async throws {
        try await withNodes(["node-a", "node-b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            let project = try await project(nodes: [(a.name, a.endpoint), (b.name, b.endpoint)], train: "local", serve: "local")
            let (portA, portB) = (try freePort(), try freePort())
            func deployment(version: Int, portB: Int) -> String {
                project.deployment(version: version).replacingOccurrences(
                    of: "  targets: [{ target: local }]",
                    with: """
                          targets:
                            - { target: local }
                            - { target: node-a, address: "127.0.0.1:\(portA)" }
                            - { target: node-b, address: "127.0.0.1:\(portB)" }
                          strategy: { type: waves, waves: [[local], [node-a, node-b]] }
                          autoRollback: true
                        """)
            }
            project.write("manifests/deployment.yaml", deployment(version: 1, portB: portB))
            try await project.commit("Serve on this machine and two nodes")
            let harness = try Harness(project)
            defer { Task { await harness.tearDown() } }
            let (plan, report) = try await harness.apply()
            #expect(report.ok, "\(report.failed.map(\.error))")
            #expect(plan.actions.map(\.kind) == [.train, .rollout])
            func version(_ port: Int) async throws -> String? {
                let body = try await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:\(port)/")).text
                return body.split(separator: "\"").dropFirst(3).first.map(String.init)
            }
            for port in [project.port, portA, portB] { #expect(try await version(port) == "1", "port \(port)") }
            #expect(try await harness.plan().actions.isEmpty)

            // v2, and node-b moved to an address something else holds.
            let taken = try FaultServer { _ in .status(200) }
            try project.setQuality("0.95")
            project.write("manifests/deployment.yaml", deployment(version: 2, portB: taken.port))
            try await project.commit("Train and pin v2")
            let (_, failed) = try await harness.apply()
            #expect(failed.result == .failed)
            let error = try #require(failed.failed.first?.error)
            #expect(error.hasPrefix("wave 2 of 2: node-b: "), "\(error)")
            #expect(error.contains("cannot forward 127.0.0.1:\(taken.port): address 127.0.0.1:\(taken.port) is already in use"), "\(error)")
            #expect(error.contains("rolled back local to v1, node-a to v1"), "\(error)")
            #expect(error.contains("Git: created branch gantry/rollback-demo-prod"), "\(error)")
            for port in [project.port, portA, portB] { #expect(try await version(port) == "1", "port \(port) answers v1 again") }
            #expect(try harness.store.deployments(named: "demo-prod").map(\.version) == [1, 1, 1])

            let (held, again) = try await harness.apply()
            #expect(again.result == .nothingToDo, "\(held.text)")
            #expect(held.warnings.contains { $0.contains("demo@2 failed its rollout") })
            taken.stop()
        }
    }

    @Test func aLaterWaveStartsItsServerWhileTheFirstMovesThenOnlySwitches() async throws {
        try await withNodes(["node-a"]) { nodes in
            let a = nodes[0]
            let project = try await project(nodes: [(a.name, a.endpoint)], train: "local", serve: "local")
            let portA = freePort()
            func deployment(version: Int) -> String {
                project.deployment(version: version).replacingOccurrences(
                    of: "  targets: [{ target: local }]",
                    with: """
                          targets: [{ target: local }, { target: node-a, address: "127.0.0.1:\(portA)" }]
                          strategy: { type: waves, waves: [[local], [node-a]] }
                        """)
            }
            project.write("src/serve.py", CanaryTests.serve)
            project.write("manifests/deployment.yaml", deployment(version: 1))
            try await project.commit("Serve here, then on node-a")
            let harness = try Harness(project)
            defer { Task { await harness.tearDown() } }
            _ = try await harness.apply()
            try project.setQuality("0.95")
            project.write("manifests/deployment.yaml", deployment(version: 2))
            try await project.commit("Train and pin v2")
            let load = Load(port: portA)
            let (_, report) = try await harness.apply()
            let seen = load.stop()
            #expect(report.result == .applied, "\(report.failed)")
            // node-a's v2 was started (its launch opened) before local had
            // switched, and its switch cost no request.
            let nodeLaunch = try #require(try harness.store.intent("deploy:demo-prod@node-a:2"))
            let local = try #require(try harness.store.deployment("demo-prod", target: "local"))
            #expect(nodeLaunch.createdAt < local.updatedAt, "node-a started at \(nodeLaunch.createdAt), local switched at \(local.updatedAt)")
            #expect(seen.failures == 0, "\(seen)")
            #expect(Load.get(port: portA, times: 10).versions == ["2": 10])
            #expect(try await status(a, "demo-prod").record.version == 2)
            #expect(try await a.client().send("GET", "/v1/deployments/demo-prod/next", accept: [404]).status == 404)
            let retiring = Workspace(root: a.directory, executable: gantryExecutable).deployment("demo-prod") + "/retiring.json"
            #expect(!FileManager.default.fileExists(atPath: retiring), "v1 on node-a was stopped before the rollout ended")
        }
    }

    @Test func aCanaryOnANodeIsJudgedByTheNodesForwarder() async throws {
        try await withNodes(["node-a"]) { nodes in
            let a = nodes[0]
            let project = try await project(nodes: [(a.name, a.endpoint)], train: "local", serve: "node-a")
            project.write("src/serve.py", CanaryTests.serve)
            func deployment(version: Int, env: String) -> String {
                project.deployment(version: version, extra: CanaryTests.strategy)
                    .replacingOccurrences(of: "{ target: local }", with: "{ target: node-a }")
                    .replacingOccurrences(of: "workingDir: src", with: "workingDir: src\n    env: { \(env) }")
            }
            project.write("manifests/deployment.yaml", deployment(version: 1, env: "FAIL_EVERY: \"0\""))
            try await project.commit("Serve demo on node-a by canary")
            let harness = try Harness(project)
            defer { Task { await harness.tearDown() } }
            let (_, first) = try await harness.apply()
            #expect(first.result == .applied, "\(first.failed)")

            // v2 answers 500 to every fifth request: back to v1 on the node.
            try project.setQuality("0.95")
            project.write("manifests/deployment.yaml", deployment(version: 2, env: "FAIL_EVERY: \"5\""))
            try await project.commit("Train and pin v2")
            var load = Load(port: project.port)
            let (_, failed) = try await harness.apply()
            _ = load.stop()
            let error = try #require(failed.failed.first?.error)
            #expect(error.contains("canary step 1 of 3 (10% to v2): error rate "), "\(error)")
            #expect(Load.get(port: project.port, times: 20).versions == ["1": 20])
            #expect(try await a.client().send("GET", "/v1/deployments/demo-prod/next", accept: [404]).status == 404, "the next version is gone")

            // A fixed server: the canary reaches every request, none fails.
            project.write("manifests/deployment.yaml", deployment(version: 2, env: "FAIL_EVERY: \"0\""))
            try await project.commit("Fix the server")
            load = Load(port: project.port)
            let (_, applied) = try await harness.apply()
            let seen = load.stop()
            #expect(applied.result == .applied, "\(applied.failed)")
            #expect(seen.failures == 0 && seen.versions["2", default: 0] > 0, "\(seen)")
            #expect(Load.get(port: project.port, times: 20).versions == ["2": 20])
            #expect(try await status(a, "demo-prod").record.version == 2)
        }
    }

    @Test func aCanaryOnANodeIsGatedOnTheNewVersionsOwnMetricsReadByTheNode() async throws {
        try await withNodes(["node-a"]) { nodes in
            let a = nodes[0]
            let project = try await project(nodes: [(a.name, a.endpoint)], train: "local", serve: "node-a")
            project.write("src/serve.py", CanaryTests.serve)
            func deployment(version: Int, errors: String) -> String {
                project.deployment(version: version, extra: CanaryTests.metricsStrategy)
                    .replacingOccurrences(of: "{ target: local }", with: "{ target: node-a }")
                    .replacingOccurrences(of: "workingDir: src", with: "workingDir: src\n    env: { PREDICTION_ERRORS: \"\(errors)\" }")
            }
            project.write("manifests/deployment.yaml", deployment(version: 1, errors: "0"))
            try await project.commit("Serve demo on node-a by canary, gated on its own metrics")
            let harness = try Harness(project)
            defer { Task { await harness.tearDown() } }
            let (_, first) = try await harness.apply()
            #expect(first.result == .applied, "\(first.failed)")

            // The node reads the metrics of the version that serves, and
            // refuses a path that is not one on the model server.
            let client = try a.client()
            let read: [String: Double] = try await client.get("/v1/deployments/demo-prod/metrics", query: [("version", "1"), ("path", "/metrics")])
            #expect(read == ["model_prediction_errors_total": 0])
            #expect(
                try await client.send("GET", "/v1/deployments/demo-prod/metrics", query: [("version", "1"), ("path", "@evil:80/x")], accept: [400]).status
                    == 400)
            #expect(try await client.send("GET", "/v1/deployments/demo-prod/metrics?version=9", accept: [404]).status == 404)

            try project.setQuality("0.95")
            project.write("manifests/deployment.yaml", deployment(version: 2, errors: "7"))
            try await project.commit("Train and pin v2")
            let (_, failed) = try await harness.apply()
            let error = try #require(failed.failed.first?.error)
            #expect(
                error.hasPrefix(
                    "canary step 1 of 2 (50% to v2): v2's /metrics: model_prediction_errors_total is 7.0, gate model_prediction_errors_total <= 3.0"),
                "\(error)")
            #expect(Load.get(port: project.port, times: 10).versions == ["1": 10])
            #expect(try await status(a, "demo-prod").record.version == 1)
            #expect(try harness.store.hold("demo-prod")?.version == 2)
        }
    }

    @Test func callsWithoutTheTokenAreRefusedAndChangeNothing() async throws {
        try await withNodes(["node-a"]) { nodes in
            let a = nodes[0]
            let project = try await project(nodes: [(a.name, a.endpoint)], train: "node-a", serve: "node-a")
            let harness = try Harness(project)
            #expect(try await harness.apply().report.ok)

            #expect(try await a.client(token: nil).send("GET", "/v1/health").status == 200, "the health check is open")
            let blob = "sha256:" + Digest.sha256("not allowed")
            for token in [nil, "wrong-token"] {
                let caller = a.client(token: token)
                for (method, path) in [
                    ("GET", "/v1/info"), ("DELETE", "/v1/deployments/demo-prod"), ("GET", "/v1/deployments/demo-prod"),
                    ("PUT", "/v1/blobs/\(blob)"), ("PUT", "/v1/runs/intruder"),
                ] {
                    let response = try await caller.send(
                        method, path, body: method == "PUT" ? Array("not allowed".utf8) : nil,
                        contentType: "application/json", accept: [401])
                    #expect(response.status == 401, "\(method) \(path) with token \(token ?? "none")")
                    #expect(!response.text.contains(NodeAgent.token))
                }
            }
            // Nothing changed: still serving, no blob, no run.
            #expect(try await status(a, "demo-prod").observed.serving)
            #expect(try await harness.get().contains(#""version": "1""#))
            #expect(try await a.client().send("HEAD", "/v1/blobs/\(blob)", accept: [404]).status == 404)
            #expect(try await a.client().send("GET", "/v1/runs/intruder", accept: [404]).status == 404)
            #expect(try await harness.plan().actions.isEmpty)

            // A blob whose bytes do not have the digest in its path is refused.
            let refused = try await a.client().send(
                "PUT", "/v1/blobs/\(blob)", body: Array("other bytes".utf8),
                contentType: "application/octet-stream", accept: [400])
            #expect(refused.status == 400 && refused.text.contains("digest"))
            #expect(try await a.client().send("HEAD", "/v1/blobs/\(blob)", accept: [404]).status == 404)
        }
    }

    @Test func aStoppedNodeFailsOnlyItsOwnActionAndTheNextApplyCompletesIt() async throws {
        try await withNodes(["node-a", "node-b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            let project = try await project(nodes: [(a.name, a.endpoint), (b.name, b.endpoint)], train: "node-a", serve: "node-b")
            let harness = try Harness(project)
            await b.stop()

            let first = try await harness.apply().report
            #expect(first.succeeded.map(\.kind) == [.train], "node A trains although node B is down")
            #expect(first.failed.map(\.action.kind) == [.deploy])
            let error = try #require(first.failed.first?.error)
            #expect(error.contains("agent node-b") && error.contains("after 4 tries"), "\(error)")
            #expect(!error.contains(NodeAgent.token))
            #expect(try harness.store.version("demo", 1) != nil)

            // Node B comes back with its directory: the deploy, and only it, runs.
            let back = try await NodeAgent.start("node-b", port: b.port, directory: b.directory)
            do {
                #expect(try await harness.plan().actions.map(\.kind) == [.deploy])
                let second = try await harness.apply().report
                #expect(second.ok, "\(second.failed.map(\.error))")
                #expect(try await harness.get().contains(#""version": "1""#))
                #expect(try harness.store.allVersions().count == 1, "nothing was trained twice")
            } catch {
                await back.stopServing()
                await back.stop()
                throw error
            }
            await back.stopServing()
            await back.stop()
        }
    }

    @Test func aRunInFlightWhenItsAgentRestartsIsAdoptedNotStartedTwice() async throws {
        try await withNodes(["node-a"]) { nodes in
            let a = nodes[0]
            let project = try await project(nodes: [(a.name, a.endpoint)], train: "node-a", serve: "node-a")
            let marker = makeTemporaryDirectory("marker") + "/runs"
            let started = makeTemporaryDirectory("started") + "/started"
            project.write("src/train.py", "import time\nopen(\"\(started)\", \"w\").write(\"x\")\ntime.sleep(2)\n" + TestProject.train)
            project.write(
                "manifests/pipeline.yaml",
                TestProject.pipeline(extraStep: "").replacingOccurrences(
                    of: "      timeout: 1m", with: "      timeout: 1m\n      env: { TRAIN_MARKER: \"\(marker)\" }"))
            try await project.commit("Slow but fine")
            let harness = try Harness(project)
            let (desired, plan) = try await harness.reconciler.plan(try harness.source.fetch())

            // The controller launches the run and goes away while it trains;
            // the node's agent restarts meanwhile. The run itself goes on.
            let first = Task { try await harness.reconciler.apply(plan, desired: desired, actor: "first") }
            try await eventually("the step started", timeout: .seconds(30)) { FileManager.default.fileExists(atPath: started) }
            first.cancel()
            _ = try? await first.value
            await a.stop()
            let back = try await NodeAgent.start("node-a", port: a.port, directory: a.directory)
            do {
                let (_, report) = try await harness.apply()
                #expect(report.ok, "\(report.failed.map(\.error))")
                #expect(try harness.store.versions(of: "demo").map(\.number) == [1])
                #expect(try String(contentsOfFile: marker, encoding: .utf8) == "trained\n", "the step ran exactly once")
                #expect(try await harness.get().contains(#""version": "1""#))
            } catch {
                await back.stopServing()
                await back.stop()
                throw error
            }
            await back.stopServing()
            await back.stop()
        }
    }

    @Test func aNodeAnswering500IsRetriedWithBackoffAndTheErrorSaysSo() async throws {
        try await withNodes(["node-a"]) { nodes in
            let a = nodes[0]
            let failing = try FaultServer { _ in .status(500, "internal error") }
            defer { failing.stop() }
            let project = try await project(nodes: [(a.name, a.endpoint), ("node-b", failing.endpoint)], train: "node-a", serve: "node-b")
            let harness = try Harness(project)

            let report = try await harness.apply().report
            #expect(report.succeeded.map(\.kind) == [.train], "the healthy node is unaffected")
            let error = try #require(report.failed.first?.error)
            #expect(error.contains("agent node-b") && error.contains("answered 500"), "\(error)")
            let first = try #require(failing.requests.first)
            #expect(failing.requests.filter { $0.method == first.method && $0.path == first.path }.count == 4, "tried four times")
            #expect(first.headers["authorization"] == "Bearer \(NodeAgent.token)")
        }
    }

    /// A driver for a node at `endpoint`, with short timeouts.
    func driver(_ endpoint: String, store: StateStore) throws -> AgentTarget {
        let tokenFile = makeTemporaryDirectory("agent-token") + "/token"
        try NodeAgent.token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        var spec = TargetSpec(type: .agent, endpoint: endpoint)
        spec.credentials = ["token": SecretRef(file: tokenFile)]
        let workspace = Workspace(root: makeTemporaryDirectory("gantry-state"), executable: gantryExecutable)
        return try AgentTarget(
            DriverContext(name: "node-b", spec: spec, workspace: workspace, versions: store),
            timeout: .seconds(1), retry: RetryPolicy(attempts: 2, initialDelay: .milliseconds(50)),
            observeTimeout: .seconds(1))
    }

    func record(version: Int = 1) -> DeploymentRecord {
        DeploymentRecord(
            name: "demo-prod", model: "demo", version: version, target: "node-b", address: "127.0.0.1:8700",
            specDigest: "sha256:x", commit: "c", updatedAt: Date(timeIntervalSince1970: 0))
    }

    @Test func aNodeThatFailsTwiceAndThenAnswersIsObservedAsServing() async throws {
        let answer = AgentAPI.DeploymentStatus(
            record: record(),
            observed: ObservedDeployment(
                name: "demo-prod", serving: true, forwarding: true, healthy: true, detail: "health check answered 200"))
        let json = String(decoding: try JSONEncoder().encode(answer), as: UTF8.self)
        let flaky = try FaultServer { request in request.index < 1 ? .status(503, "starting") : .json(json) }
        defer { flaky.stop() }
        let store = try StateStore(directory: makeTemporaryDirectory("gantry-state"))
        let seen = try await driver(flaky.endpoint, store: store).observe(record(), spec: nil)
        #expect(seen.serving && seen.healthy == true, "\(seen.detail)")
        #expect(flaky.requests.count == 2)

        let other = try await driver(flaky.endpoint, store: store).observe(record(version: 2), spec: nil)
        #expect(!other.serving && other.detail.contains("serves version 1"), "a node serving another version is drift")
    }

    @Test func aHangingNodeIsObservedAsDownAndItsActionsFailWithTheReason() async throws {
        let hanging = try FaultServer { _ in .hang(.seconds(20)) }
        defer { hanging.stop() }
        let store = try StateStore(directory: makeTemporaryDirectory("gantry-state"))
        let driver = try driver(hanging.endpoint, store: store)
        let seen = await driver.observe(record(), spec: nil)
        #expect(!seen.serving && seen.healthy == nil)
        #expect(seen.detail.contains("agent node-b") && seen.detail.lowercased().contains("timeout"), "\(seen.detail)")
        let stop = await #expect(throws: DriverError.self) { try await driver.stop(record()) }
        #expect(
            stop?.description.contains("stop demo-prod") == true && stop?.description.lowercased().contains("timeout") == true,
            "\(stop?.description ?? "")")
    }
}
