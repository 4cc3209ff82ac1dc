import Foundation
import GantryTestSupport
import HTTP
import Processes
import State
import Testing

@testable import StableAddress

/// The crash-consistency harness: `gantry apply` SIGKILLed at random points
/// of training, deploying and recording, then run to the end. However often
/// it dies, each lineage is trained exactly once (counted by the training
/// itself), no version is lost or duplicated, no reconcile stays `running`,
/// the served model answers with the pinned version, and `destroy` leaves no
/// process and no bound address behind.
///
/// 10 kills by default (CI); `GANTRY_CRASH_KILLS=100` for the long run,
/// `GANTRY_CRASH_SEED` to replay a sequence of kill points.
@Suite(.serialized, .timeLimit(.minutes(30)))
struct CrashConsistencyTests {
    /// A deterministic generator, so a failing sequence can be replayed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// A `gantry agent` on loopback: the second target of the waves case.
    struct Node {
        static let token = "crash-node-token-81c2"
        let child: ChildProcess
        let endpoint: String
        let directory: String
        let tokenFile: String
        let port = freePort()

        static func start() async throws -> Node {
            let home = NSTemporaryDirectory() + "gantry-crash-node-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            let tokenFile = home + "/token"
            try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
            let hash = try await runCommand(["sha256sum", tokenFile]).checked().prefix(64)
            try "sha256:\(hash)\n".write(toFile: home + "/tokens", atomically: true, encoding: .utf8)
            let listen = freePort()
            let child = try ChildProcess.spawn(
                ProcessSpec(
                    argv: [gantryExecutable, "agent", "--listen", "127.0.0.1:\(listen)", "--token-file", home + "/tokens", "--dir", home + "/agent"],
                    environment: ProcessInfo.processInfo.environment, workingDirectory: home, logPath: home + "/agent.log"))
            let node = Node(child: child, endpoint: "http://127.0.0.1:\(listen)", directory: home + "/agent", tokenFile: tokenFile)
            try await eventually("the agent answers") {
                (try? await HTTPClient.shared.send(HTTPRequest(url: node.endpoint + "/v1/health", timeout: .seconds(1))).status) == 200
            }
            return node
        }
    }

    func project(marker: String, port: Int, strategy: String, node: Node?) async throws -> String {
        let project = try await ProjectRepository("gantry-crash")
        project.write(
            "src/train.py",
            """
            import json, os, sys, time
            out, quality = sys.argv[1], sys.argv[2]
            open(os.environ["MARKER"], "a").write(quality + "\\n")   # one line per launch
            time.sleep(0.4)
            json.dump({"quality": quality}, open(os.path.join(out, "model.json"), "w"))
            json.dump({"accuracy": 1}, open(os.path.join(out, "metrics.json"), "w"))
            """)
        project.write(
            "src/serve.py",
            """
            import json, signal, sys, threading
            from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
            model = json.load(open(sys.argv[1]))
            class H(BaseHTTPRequestHandler):
                def do_GET(self):
                    body = json.dumps(model).encode()
                    self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
                def log_message(self, *a): pass
            s = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), H)
            s.daemon_threads = True
            signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=s.shutdown).start())
            s.serve_forever()
            """)
        project.write("gantry.yaml", manifests(quality: 0, version: 1, marker: marker, port: port, strategy: strategy, node: node))
        try await project.commit("quality 0")
        return project.directory
    }

    func manifests(quality: Int, version: Int, marker: String, port: Int, strategy: String, node: Node?) -> String {
        var targets = "targets: [{ target: local }]"
        var strategy = strategy
        var nodeTarget = ""
        if let node {
            targets = "targets: [{ target: local }, { target: node, address: \"127.0.0.1:\(node.port)\" }]"
            nodeTarget = """
                apiVersion: gantry.dev/v1alpha1
                kind: Target
                metadata: { name: node }
                spec: { type: agent, endpoint: "\(node.endpoint)", credentials: { token: { file: \(node.tokenFile) } } }
                ---

                """
            strategy = "  strategy: { type: waves, waves: [[local], [node]], pause: 300ms }"
        }
        return nodeTarget + """
            apiVersion: gantry.dev/v1alpha1
            kind: Pipeline
            metadata: { name: crash }
            spec:
              codePath: src
              steps:
                - name: train
                  command: [python3, train.py, "${outputs}", "${params.quality}"]
                  env: { MARKER: "\(marker)" }
              artifact: { step: train, path: model.json }
              metrics: { step: train, path: metrics.json }
            ---
            apiVersion: gantry.dev/v1alpha1
            kind: Model
            metadata: { name: crash }
            spec: { pipeline: crash, target: local, params: { quality: \(quality) } }
            ---
            apiVersion: gantry.dev/v1alpha1
            kind: Deployment
            metadata: { name: crash-prod }
            spec:
              model: crash
              version: \(version)
              address: 127.0.0.1:\(port)
              serve: { command: [python3, serve.py, "${artifact}", "${port}"], workingDir: src }
              \(targets)
              healthCheck: { path: /, timeout: 20s, interval: 100ms }
            \(strategy)
            """
    }

    /// The strategies the harness kills: a switch, a canary whose two steps
    /// (kept short) are further points to die at, and two waves across
    /// this machine and a `gantry agent` node.
    static let strategies = ["", "  strategy: { type: canary, steps: [50, 100], pause: 300ms }", "waves"]

    func apply(_ repo: String, _ state: String) async throws -> CommandResult {
        try await gantry(["apply", "--repo", repo, "--state-dir", state], timeout: .seconds(120))
    }

    @Test(arguments: strategies)
    func applyKilledAtRandomPointsLosesNothingAndRepeatsNothing(strategy: String) async throws {
        let environment = ProcessInfo.processInfo.environment
        let kills = Int(environment["GANTRY_CRASH_KILLS"] ?? "") ?? 10
        let seed = UInt64(environment["GANTRY_CRASH_SEED"] ?? "") ?? UInt64(Date().timeIntervalSince1970)
        var random = SplitMix(state: seed)
        let marker = NSTemporaryDirectory() + "gantry-crash-marker-\(UUID().uuidString.prefix(8))"
        let port = freePort()
        let node = strategy == "waves" ? try await Node.start() : nil
        let repo = try await project(marker: marker, port: port, strategy: strategy, node: node)
        let state = NSTemporaryDirectory() + "gantry-crash-state-\(UUID().uuidString.prefix(8))"
        defer {
            Task {
                _ = try? await gantry(["destroy", "--repo", repo, "--state-dir", state], timeout: .seconds(60))
                _ = await node?.child.terminate(grace: .seconds(5))
            }
        }
        print("crash harness: \(kills) kills, GANTRY_CRASH_SEED=\(seed), strategy \(strategy.isEmpty ? "all-at-once" : strategy)")

        for round in 1...kills {
            // Each round changes the params (a new lineage, a retrain) and
            // pins the version it produces, so a full apply trains, deploys
            // and switches.
            try manifests(quality: round, version: round, marker: marker, port: port, strategy: strategy, node: node)
                .write(toFile: repo + "/gantry.yaml", atomically: true, encoding: .utf8)
            try await git(["commit", "-qam", "quality \(round)"], in: repo)
            let log = NSTemporaryDirectory() + "gantry-crash-killed-\(UUID().uuidString.prefix(8))"
            let killed = try ChildProcess.spawn(
                ProcessSpec(
                    argv: [gantryExecutable, "apply", "--repo", repo, "--state-dir", state],
                    environment: environment, logPath: log))
            let after = Int.random(in: 0...(node == nil ? 2500 : 4000), using: &random)
            try await Task.sleep(for: .milliseconds(after))
            kill(killed.pid, SIGKILL)
            _ = await killed.wait()

            let applied = try await apply(repo, state)
            #expect(applied.code == 0, "round \(round) (killed after \(after) ms, seed \(seed)): \(applied.output)")
            let served = try await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:\(port)/", timeout: .seconds(5))).text
            #expect(served.contains(#""quality": "\#(round)""#), "round \(round): serving \(served)")
            // Counted where it runs: one server, whatever step died (a
            // canary's new server left running would be a second).
            let servers = orphans(of: state).filter { $0.contains("serve.py") }
            #expect(servers.count == 1, "round \(round) (killed after \(after) ms): servers \(servers)")
            if let node {
                // And on the node, where its own agent counts.
                let there = try await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:\(node.port)/", timeout: .seconds(5))).text
                #expect(there.contains(#""quality": "\#(round)""#), "round \(round): node serving \(there)")
                let nodeServers = orphans(of: node.directory).filter { $0.contains("serve.py") }
                #expect(nodeServers.count == 1, "round \(round) (killed after \(after) ms): node servers \(nodeServers)")
            }
        }

        // Every lineage (quality 0 to kills) trained exactly once.
        let launches = try String(contentsOfFile: marker, encoding: .utf8).split(separator: "\n").map(String.init)
        let counts = Dictionary(launches.map { ($0, 1) }, uniquingKeysWith: +)
        #expect(
            counts == Dictionary(uniqueKeysWithValues: (1...kills).map { ("\($0)", 1) }),
            "launches per lineage: \(counts.sorted { $0.key < $1.key })")
        let store = try StateStore(directory: state)
        let versions = try store.versions(of: "crash")
        #expect(versions.map(\.number) == Array(1...versions.count), "no gap, no duplicate")
        #expect(Set(versions.map(\.digest)).count == versions.count, "one version per lineage")
        #expect(versions.count == kills)
        #expect(try store.reconciles(limit: 1000).allSatisfy { $0.result != "running" }, "no reconcile left running")
        #expect(try store.openIntents().isEmpty, "no launch left open")
        #expect(try store.hold("crash-prod") == nil, "a kill is no failed rollout")

        let destroyed = try await gantry(["destroy", "--repo", repo, "--state-dir", state], timeout: .seconds(60))
        #expect(destroyed.status.succeeded)
        let (fd, _) = try Sockets.listen(on: Endpoint(host: "127.0.0.1", port: UInt16(port)))
        close(fd)
        #expect(orphans(of: state).isEmpty, "processes left behind: \(orphans(of: state))")
        if let node {
            let (nodeFD, _) = try Sockets.listen(on: Endpoint(host: "127.0.0.1", port: UInt16(node.port)))
            close(nodeFD)
            #expect(orphans(of: node.directory).filter { !$0.contains(" agent ") }.isEmpty, "left on the node: \(orphans(of: node.directory))")
        }
    }

    /// Processes still running from this state directory (runners, model
    /// servers, forwarders), by their command lines and working directories.
    func orphans(of state: String) -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap(Int32.init) ?? []
        return pids.compactMap { pid in
            guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let command = String(decoding: raw.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            let cwd = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")) ?? ""
            guard command.contains(state) || cwd.hasPrefix(state) else { return nil }
            return "\(pid): \(command)"
        }
    }
}
