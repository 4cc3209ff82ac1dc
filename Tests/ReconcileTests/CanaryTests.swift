import Foundation
import GantryTestSupport
import StableAddress
import State
import Synchronization
import Targets
import Testing

@testable import Reconciler

#if canImport(Glibc)
    import Glibc
#endif

/// Canaries on the local target, against real model servers behind the
/// real forwarder: the forwarder's own readings roll back a version that
/// fails a fifth of its requests, and a healthy one reaches every request
/// without a failed one.
@Suite(.serialized) struct CanaryTests {
    /// The demo server, failing every `FAIL_EVERY`-th request (health checks
    /// aside) when that variable is set (and its version is
    /// `FAIL_ONLY_VERSION`, when that is set).
    static let serve = """
        import argparse, json, os, signal, threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        p = argparse.ArgumentParser()
        p.add_argument("--model"); p.add_argument("--port", type=int); p.add_argument("--version")
        a = p.parse_args()
        fail_every = int(os.environ.get("FAIL_EVERY", "0"))
        if os.environ.get("FAIL_ONLY_VERSION", a.version) != a.version:
            fail_every = 0
        lock, count = threading.Lock(), [0]
        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/metrics":
                    body = ("# TYPE model_prediction_errors_total counter\\n"
                            + 'model_prediction_errors_total{model="demo"} ' + os.environ.get("PREDICTION_ERRORS", "0") + "\\n").encode()
                    self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
                    self.wfile.write(body)
                    return
                if fail_every and self.path != "/health":
                    with lock:
                        count[0] += 1
                        failing = count[0] % fail_every == 0
                    if failing:
                        self.send_response(500); self.send_header("Content-Length", "0"); self.end_headers()
                        return
                body = json.dumps({"version": a.version, "pid": os.getpid()}).encode()
                self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args): pass
        s = ThreadingHTTPServer(("127.0.0.1", a.port), H)
        s.daemon_threads = True
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=s.shutdown).start())
        s.serve_forever()
        """

    static let strategy = """
          strategy:
            type: canary
            steps: [10, 50, 100]
            pause: 1s
            analysis: { maxErrorRate: 0.05, minRequests: 20, maxDuration: 60s }
          autoRollback: true

        """

    static func project() async throws -> TestProject {
        let project = try await TestProject(port: freePort())
        project.write("src/serve.py", serve)
        project.write("manifests/deployment.yaml", project.deployment(version: 1, extra: strategy))
        try await project.commit("Serve demo by canary")
        return project
    }

    /// Pins v2 (trained on new params) under `strategy`, with `env` for its
    /// server.
    static func pinV2(_ project: TestProject, strategy: String = strategy, env: String? = nil) async throws {
        try project.setQuality("0.95")
        let deployment = project.deployment(version: 2, extra: strategy)
        project.write(
            "manifests/deployment.yaml",
            env.map { deployment.replacingOccurrences(of: "workingDir: src", with: "workingDir: src\n    env: { \($0) }") } ?? deployment)
        try await project.commit("Train and pin v2")
    }

    /// The demo server at v1 under `strategy`, applied once; `prepare`
    /// adds files to the project first.
    static func servingV1(_ strategy: String, prepare: (TestProject) -> Void = { _ in }) async throws -> (TestProject, Harness) {
        let project = try await TestProject(port: freePort())
        project.write("src/serve.py", serve)
        prepare(project)
        project.write("manifests/deployment.yaml", project.deployment(version: 1, extra: strategy))
        try await project.commit("Serve demo by canary")
        let harness = try Harness(project)
        let (_, first) = try await harness.apply()
        #expect(first.result == .applied, "\(first.failed)")
        return (project, harness)
    }

    @Test func aVersionFailingAFifthOfItsRequestsIsRolledBackByTheForwardersReadings() async throws {
        let project = try await Self.project()
        let harness = try Harness(project)
        defer { Task { await harness.tearDown() } }
        let (_, first) = try await harness.apply()
        #expect(first.result == .applied, "\(first.failed)")

        try await Self.pinV2(project, env: "FAIL_EVERY: \"5\"")
        let load = Load(port: project.port)
        let (_, report) = try await harness.apply()
        let seen = load.stop()
        #expect(report.result == .failed)
        let error = try #require(report.failed.first?.error)
        #expect(error.contains("canary step 1 of 3 (10% to v2): error rate "), "\(error)")
        #expect(error.contains("is over 0.05; every request back on v1, v2 stopped"), "\(error)")
        #expect(error.contains("v2 held until Git pins another version"), "\(error)")
        #expect(seen.versions["2", default: 0] > 0, "the canary took requests: \(seen)")
        // Only the canary's own failures reached clients: a fifth of its share.
        #expect(seen.failures <= seen.versions["2", default: 0] / 2, "\(seen)")

        let after = Load.get(port: project.port, times: 20)
        #expect(after.versions == ["1": 20], "\(after)")
        #expect(try harness.store.deployment("demo-prod", target: "local")?.version == 1)
        #expect(try harness.store.hold("demo-prod")?.version == 2)
        let control = ForwarderControl(directory: harness.workspace.deployment("demo-prod") + "/forwarder")
        #expect(control.routes()?.count == 1, "one route again")

        // Held: the next reconcile does not try v2 again.
        let (plan, next) = try await harness.apply()
        #expect(next.result == .nothingToDo, "\(plan.text)")
    }

    /// `onFailure: freeze`: a failed step leaves the split as it is, the
    /// next reconciles keep it (recovery leaves the new server alone while
    /// the version is held), and a pin in Git ends it.
    @Test func aFrozenCanaryKeepsItsSplitUntilGitDecides() async throws {
        let strategy = """
              strategy:
                type: canary
                steps: [50, 100]
                pause: 200ms
                onFailure: freeze
                analysis: { command: [python3, -c, "raise SystemExit('v${version} at ${percent}% fails its check')"] }
              autoRollback: true

            """
        let (project, harness) = try await Self.servingV1(strategy)
        defer { Task { await harness.tearDown() } }
        try await Self.pinV2(project, strategy: strategy)
        let (_, report) = try await harness.apply()
        let error = try #require(report.failed.first?.error)
        #expect(error.hasPrefix("canary step 1 of 2 (50% to v2): analysis command "), "\(error)")
        #expect(
            error.contains("v2 at 50% fails its check; v2 keeps 50% of requests; frozen (onFailure: freeze): local v1; v2 held: nothing moves"),
            "\(error)")
        #expect(try harness.store.hold("demo-prod")?.version == 2)
        let split = Load.get(port: project.port, times: 100).versions
        #expect(split["1", default: 0] >= 30 && split["2", default: 0] >= 30, "both versions answer: \(split)")

        // Held and frozen: the next reconcile moves nothing and stops nothing.
        let (plan, next) = try await harness.apply()
        #expect(next.result == .nothingToDo, "\(plan.text)")
        let still = Load.get(port: project.port, times: 100).versions
        #expect(still["1", default: 0] >= 30 && still["2", default: 0] >= 30, "the split stays: \(still)")
        #expect(try harness.reconciler.journal.open().count == 1, "the canary's launch stays open")

        // A person pins v1 back: every request on v1, the canary stopped.
        project.write("manifests/deployment.yaml", project.deployment(version: 1, extra: strategy))
        try await project.commit("Pin v1 back")
        let (_, back) = try await harness.apply()
        #expect(back.failed.isEmpty, "\(back.failed)")
        #expect(Load.get(port: project.port, times: 20).versions == ["1": 20])
        #expect(try harness.reconciler.journal.open().isEmpty)
        #expect(try harness.store.hold("demo-prod") == nil)
        let control = ForwarderControl(directory: harness.workspace.deployment("demo-prod") + "/forwarder")
        #expect(control.routes()?.count == 1, "one route again")
    }

    @Test func anEvaluationCommandThatFailsAtAStepRollsTheCanaryBack() async throws {
        let strategy = """
              strategy:
                type: canary
                steps: [10, 50, 100]
                pause: 200ms
                analysis: { command: [python3, check.py, "${address}", "${version}", "${percent}"] }
              autoRollback: true

            """
        // The evaluation passes at 10% and fails at 50%, and says why.
        let (project, harness) = try await Self.servingV1(strategy) { project in
            project.write(
                "check.py",
                """
                import sys
                address, version, percent = sys.argv[1:4]
                print(f"checked v{version} at {address} with {percent}%")
                sys.exit(1 if percent == "50" else 0)
                """)
        }
        defer { Task { await harness.tearDown() } }
        try await Self.pinV2(project, strategy: strategy)
        let (_, report) = try await harness.apply()
        let error = try #require(report.failed.first?.error)
        #expect(
            error.hasPrefix("canary step 2 of 3 (50% to v2): analysis command python3 check.py 127.0.0.1:\(project.port) 2 50 exited with code 1"),
            "\(error)")
        #expect(error.contains("checked v2 at 127.0.0.1:\(project.port) with 50%"), "its output is in the error: \(error)")
        #expect(Load.get(port: project.port, times: 10).versions == ["1": 10])
        #expect(try harness.store.hold("demo-prod")?.version == 2)
    }

    /// A canary gated on the demo server's own `/metrics`.
    static let metricsStrategy = """
          strategy:
            type: canary
            steps: [50, 100]
            pause: 200ms
            analysis: { metrics: { gates: ["model_prediction_errors_total <= 3"] } }
          autoRollback: true

        """

    @Test func aVersionWhoseOwnMetricsFailAGateIsRolledBack() async throws {
        let strategy = Self.metricsStrategy
        let (project, harness) = try await Self.servingV1(strategy)
        defer { Task { await harness.tearDown() } }
        try await Self.pinV2(project, strategy: strategy, env: "PREDICTION_ERRORS: \"7\"")
        let (_, report) = try await harness.apply()
        let error = try #require(report.failed.first?.error)
        #expect(
            error.hasPrefix(
                "canary step 1 of 2 (50% to v2): v2's /metrics: model_prediction_errors_total is 7.0, gate model_prediction_errors_total <= 3.0"),
            "\(error)")
        #expect(Load.get(port: project.port, times: 10).versions == ["1": 10])
    }

    @Test func aHealthyVersionReachesEveryRequestWithoutAFailedOne() async throws {
        let project = try await Self.project()
        let harness = try Harness(project)
        defer { Task { await harness.tearDown() } }
        let (_, first) = try await harness.apply()
        #expect(first.result == .applied, "\(first.failed)")

        try await Self.pinV2(project, env: "FAIL_EVERY: \"0\"")
        let load = Load(port: project.port)
        let applying = Task { try await harness.apply() }
        // Mid-canary, `rollout status` shows the split and what each side
        // answered, read from the forwarder.
        // Bounded: a rollout that ends (or fails) without a split seen
        // stops the looking, and the expectation below fails.
        var shown = ""
        let deadline = ContinuousClock.now + .seconds(120)
        while !shown.contains("traffic: v1 "), ContinuousClock.now < deadline {
            let status = try await gantry(["rollout", "status", "demo-prod", "--repo", project.directory, "--state-dir", harness.workspace.root])
            shown = status.output
            if shown.contains("Done: every target serves v2") || shown.contains("Held since") { break }
        }
        #expect(shown.contains("traffic: v1 90% (") && shown.contains("; new version 10% ("), "\(shown)")
        let (_, report) = try await applying.value
        let seen = load.stop()
        #expect(report.result == .applied, "\(report.failed)")
        #expect(seen.failures == 0, "\(seen)")
        #expect(seen.versions["1", default: 0] > 0 && seen.versions["2", default: 0] > 0, "both served during the canary: \(seen)")
        let after = Load.get(port: project.port, times: 20)
        #expect(after.versions == ["2": 20], "\(after)")
        #expect(try harness.store.deployment("demo-prod", target: "local")?.version == 2)
    }
}

/// Replicas on the local target: the forwarder spreads requests over them
/// and routes around one that dies; the next reconcile replaces it.
@Suite(.serialized) struct ReplicaTests {
    @Test func threeReplicasShareTheRequestsAndADeadOneCostsNoRequest() async throws {
        let project = try await TestProject(port: freePort())
        project.write("src/serve.py", CanaryTests.serve)
        project.write(
            "manifests/deployment.yaml",
            project.deployment(version: 1).replacingOccurrences(of: "targets: [{ target: local }]", with: "targets: [{ target: local, replicas: 3 }]"))
        try await project.commit("Serve demo on three replicas")
        let harness = try Harness(project)
        defer { Task { await harness.tearDown() } }
        let (_, first) = try await harness.apply()
        #expect(first.result == .applied, "\(first.failed)")
        let record = try #require(try harness.store.deployment("demo-prod", target: "local"))
        let replicas = try #require(LocalServing.of(record)?.replicas)
        #expect(replicas.count == 3)

        let spread = Load.get(port: project.port, times: 30)
        #expect(spread.failures == 0)
        #expect(spread.pids.count == 3 && spread.pids.values.allSatisfy { $0 == 10 }, "evenly: \(spread.pids)")

        // One replica dies: the forwarder skips it and no request fails.
        kill(replicas[1].serve.pid, SIGKILL)
        try await eventually("the replica is gone", timeout: .seconds(10)) { !replicas[1].serve.isRunning }
        let after = Load.get(port: project.port, times: 30)
        #expect(after.failures == 0, "\(after)")
        #expect(after.pids.count == 2 && after.pids["\(replicas[1].serve.pid)"] == nil, "\(after.pids)")

        // The next reconcile sees it and brings back three.
        let (plan, repaired) = try await harness.apply()
        #expect(plan.actions.first?.reason.contains("1 of 3 serving processes for version 1 are not running") == true, "\(plan.text)")
        #expect(repaired.result == .applied, "\(repaired.failed)")
        let restored = Load.get(port: project.port, times: 30)
        #expect(restored.failures == 0 && restored.pids.count == 3, "\(restored)")
    }
}

/// Requests on a thread of its own, one connection each, until stopped.
final class Load: Sendable {
    struct Seen: Sendable, CustomStringConvertible {
        var versions: [String: Int] = [:]
        /// Answers per serving process.
        var pids: [String: Int] = [:]
        var failures = 0
        var description: String { "versions \(versions.sorted { $0.key < $1.key }), \(failures) failed" }
    }

    private let seen = Mutex(Seen())
    private let done = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)

    init(port: Int) {
        let thread = Thread { [self] in
            while !done.load(ordering: .acquiring) {
                let one = Load.get(port: port, times: 1)
                seen.withLock {
                    for (v, n) in one.versions { $0.versions[v, default: 0] += n }
                    for (p, n) in one.pids { $0.pids[p, default: 0] += n }
                    $0.failures += one.failures
                }
            }
            finished.store(true, ordering: .releasing)
        }
        thread.start()
    }

    func stop() -> Seen {
        done.store(true, ordering: .releasing)
        while !finished.load(ordering: .acquiring) { usleep(1000) }
        return seen.withLock { $0 }
    }

    /// `times` GETs of / on fresh connections: the versions that answered
    /// 200, and how many did not.
    static func get(port: Int, times: Int) -> Seen {
        var result = Seen()
        for _ in 0..<times {
            if let (version, pid) = getOnce(port: port) {
                result.versions[version, default: 0] += 1
                result.pids[pid, default: 0] += 1
            } else {
                result.failures += 1
            }
        }
        return result
    }

    private static func getOnce(port: Int) -> (version: String, pid: String)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return nil }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { response.append(contentsOf: buffer[0..<n]) } else { break }
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.0 200") || text.hasPrefix("HTTP/1.1 200"),
            let version = text.range(of: "\"version\": \"").map({ text[$0.upperBound...].prefix { $0 != "\"" } }),
            let pid = text.range(of: "\"pid\": ").map({ text[$0.upperBound...].prefix { $0.isNumber } })
        else { return nil }
        return (String(version), String(pid))
    }
}

/// The forwarder's readings judge a wave as they judge a canary step: the
/// new version's requests since its wave moved.
extension CanaryTests {
    static func waves(_ analysis: String) -> String {
        """
          strategy:
            type: waves
            waves: [[local]]
            pause: 1s
            analysis: \(analysis)
          autoRollback: true

        """
    }

    @Test func aWaveWhoseRequestsFailTooOftenIsRolledBack() async throws {
        let project = try await TestProject(port: freePort())
        project.write("src/serve.py", Self.serve)
        let strategy = Self.waves("{ maxErrorRate: 0.05, minRequests: 20, maxDuration: 60s }")
        project.write("manifests/deployment.yaml", project.deployment(version: 1, extra: strategy))
        try await project.commit("Serve demo in a judged wave")
        let harness = try Harness(project)
        defer { Task { await harness.tearDown() } }
        #expect(try await harness.apply().report.result == .applied)

        try await Self.pinV2(project, strategy: strategy, env: "FAIL_EVERY: \"5\", FAIL_ONLY_VERSION: \"2\"")
        let load = Load(port: project.port)
        let (_, report) = try await harness.apply()
        _ = load.stop()
        let error = try #require(report.failed.first?.error)
        #expect(error.hasPrefix("local: error rate "), "\(error)")
        #expect(error.contains("is over 0.05; rolled back local to v1"), "\(error)")
        #expect(Load.get(port: project.port, times: 10).versions == ["1": 10])
        #expect(try harness.store.hold("demo-prod")?.version == 2)
    }

    @Test func aWaveThatTooFewRequestsReachFailsAtItsMaxDuration() async throws {
        let project = try await TestProject(port: freePort())
        project.write("src/serve.py", Self.serve)
        let strategy = Self.waves("{ maxErrorRate: 0.05, minRequests: 1000, maxDuration: 2s }")
        project.write("manifests/deployment.yaml", project.deployment(version: 1, extra: strategy))
        try await project.commit("Serve demo in a judged wave nobody calls")
        let harness = try Harness(project)
        defer { Task { await harness.tearDown() } }
        #expect(try await harness.apply().report.result == .applied, "a first deploy changes no version: not judged")
        try await Self.pinV2(project, strategy: strategy)
        let (_, report) = try await harness.apply()
        let error = try #require(report.failed.first?.error)
        #expect(error.hasPrefix("local: only "), "\(error)")
        #expect(error.contains("requests reached v2 in 2s; analysis needs 1000; rolled back local to v1"), "\(error)")
        #expect(Load.get(port: project.port, times: 10).versions == ["1": 10])
    }
}
