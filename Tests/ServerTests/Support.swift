import Controller
import Foundation
import GantryTestSupport
import HTTP
import Logging
import Processes
import Reconciler
import Server
import ServiceLifecycle
import Source
import StableAddress
import State
import Targets
import Testing

/// A small real project: a training script that writes a model and its
/// metrics, a serving script, and manifests. Commits go to a work tree and
/// are pushed to a bare repository that the controller follows by URL, so
/// write-backs (rollbacks) land on its tracked branch.
final class ServerProject: ProjectRepository, @unchecked Sendable {
    let bare: String
    let port: Int
    var url: String { "file://" + bare }

    init(deployment: Bool = true) async throws {
        bare = makeTemporaryDirectory("gantry-bare") + "/models.git"
        port = freePort()
        try await super.init("gantry-project")
        write(
            "src/train.py",
            """
            import json, os, sys
            out, quality = sys.argv[1], float(sys.argv[2])
            json.dump({"quality": quality}, open(os.path.join(out, "model.json"), "w"))
            json.dump({"accuracy": quality, "loss": round(1 - quality, 3)}, open(os.path.join(out, "metrics.json"), "w"))
            """)
        write(
            "src/serve.py",
            """
            import argparse, signal, threading
            from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
            p = argparse.ArgumentParser(); p.add_argument("--port", type=int); p.add_argument("--version")
            a = p.parse_args()
            class H(BaseHTTPRequestHandler):
                def do_GET(self):
                    body = ('{"version": "%s"}' % a.version).encode()
                    self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
                def log_message(self, *args): pass
            s = ThreadingHTTPServer(("127.0.0.1", a.port), H)
            s.daemon_threads = True
            signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=s.shutdown).start())
            s.serve_forever()
            """)
        write(
            "manifests/model.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Pipeline
            metadata: { name: demo-training }
            spec:
              codePath: src
              params: { quality: 0.5 }
              steps:
                - name: train
                  command: [python3, train.py, "${outputs}", "${params.quality}"]
                  outputs: [model.json, metrics.json]
                  timeout: 1m
              artifact: { step: train, path: model.json }
              metrics: { step: train, path: metrics.json }
            ---
            apiVersion: gantry.dev/v1alpha1
            kind: Model
            metadata: { name: demo }
            spec:
              pipeline: demo-training
              target: local
              params: { quality: 0.8 }
            """)
        if deployment { write("manifests/deployment.yaml", deploymentManifest(version: 1)) }
        try await commit("Add the demo model")
        try await git(["clone", "-q", "--bare", directory, bare], in: directory)
        try await git(["remote", "add", "origin", bare], in: directory)
    }

    /// Gives the Model automatic promotion behind an easy gate.
    func promoteAutomatically() throws {
        write(
            "manifests/model.yaml",
            try String(contentsOfFile: directory + "/manifests/model.yaml", encoding: .utf8)
                + "\n  promotion: { policy: auto, gates: [\"accuracy >= 0.5\"] }\n")
    }

    /// The Model's `quality` param changed from `from` to `to`: a new
    /// lineage, so the next reconcile trains another version.
    func setQuality(from: String, to: String) throws {
        let path = directory + "/manifests/model.yaml"
        write("manifests/model.yaml", try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "quality: \(from)", with: "quality: \(to)"))
    }

    func deploymentManifest(version: Int) -> String {
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Deployment
        metadata: { name: demo-prod }
        spec:
          model: demo
          version: \(version)
          address: 127.0.0.1:\(port)
          serve:
            command: [python3, serve.py, --port, "${port}", --version, "${version}"]
            workingDir: src
          targets: [{ target: local }]
          healthCheck: { path: /, timeout: 20s, interval: 100ms }
        """
    }

    /// Commits and pushes to the followed repository.
    func push(_ message: String) async throws {
        try await commit(message)
        try await git(["pull", "-q", "--rebase", "origin", "main"], in: directory)
        try await git(["push", "-q", "origin", "HEAD:main"], in: directory)
    }
}

/// Tokens of every role, as a caller holds them.
enum Tokens {
    static let viewer = "viewer-token-3f9a"
    static let `operator` = "operator-token-81c2"
    static let admin = "admin-token-c0d4"
    static let names = [viewer: "vera", `operator`: "olivia", admin: "adam"]

    static var file: TokenFile {
        try! TokenFile(entries: [
            TokenEntry(name: "vera", role: .viewer, sha256: TokenFile.hash(viewer)),
            TokenEntry(name: "olivia", role: .operator, sha256: TokenFile.hash(`operator`)),
            TokenEntry(name: "adam", role: .admin, sha256: TokenFile.hash(admin)),
        ])
    }
}

/// A controller loop and its HTTP server on a free loopback port, over a
/// `ServerProject`, run in a service group as `gantry controller` runs them.
final class LiveController: @unchecked Sendable {
    static let webhookSecret = "webhook-secret-5b1e"
    let project: ServerProject
    let store: StateStore
    let workspace: Workspace
    let loop: ControllerLoop
    let reconciler: Reconciler
    let metrics = ControllerMetrics(version: "test")
    let port = freePort()
    let group: ServiceGroup
    var task: Task<Void, any Error>?
    var base: String { "http://127.0.0.1:\(port)" }

    init(
        _ project: ServerProject, interval: Duration = .seconds(3600), notify: [Notifier.Receiver] = [],
        stateDirectory: String? = nil, drivers: DriverFactory? = nil, web: String? = nil
    ) async throws {
        self.project = project
        workspace = Workspace(root: stateDirectory ?? makeTemporaryDirectory("gantry-state"), executable: gantryExecutable)
        store = try StateStore(directory: workspace.root)
        let source = try GitSource(location: project.url, ref: "main", path: "", cacheDirectory: workspace.sources)
        var logger = Logger(label: "test")
        logger.logLevel = .info
        let (store, workspace) = (store, workspace)
        let reconciler =
            drivers.map { Reconciler(store: store, workspace: workspace, writeBack: source, drivers: $0) }
            ?? Reconciler(store: store, workspace: workspace, writeBack: source)
        self.reconciler = reconciler
        let notifier = Notifier(receivers: notify, logger: logger)
        loop = ControllerLoop(
            source: source, reconciler: reconciler, status: ControllerStatus(source: source.name), metrics: metrics,
            notifier: notifier, configuration: .init(interval: interval, jitter: false), logger: logger)
        let server = GantryServer(
            reconciler: reconciler, status: loop.status, wakeup: loop.wakeup, metrics: metrics,
            tokens: Tokens.file, webhookSecret: Self.webhookSecret,
            source: .init(location: project.url, ref: "main", web: web), notifier: notifier)
        var quiet = Logger(label: "server")
        quiet.logLevel = .error
        group = ServiceGroup(services: [loop, try server.application(host: "127.0.0.1", port: port, logger: quiet)], logger: quiet)
        let group = self.group
        task = Task { try await group.run() }
        try await eventually("the server answers") { (try? await self.get("/healthz").status) == 200 }
    }

    /// Waits for the first reconcile to have trained and deployed.
    func waitForFirstReconcile() async throws {
        try await eventually("the first reconcile applied") {
            loop.status.snapshot.ready && loop.status.snapshot.lastResult != nil && loop.status.snapshot.plan?.hasChanges == false
        }
    }

    func send(
        _ method: String, _ path: String, token: String? = nil, body: String? = nil,
        headers: [(name: String, value: String)] = []
    ) async throws -> HTTPResponse {
        var all = headers
        if let token { all.append(("Authorization", "Bearer \(token)")) }
        if body != nil { all.append(("Content-Type", "application/json")) }
        return try await HTTPClient.shared.send(
            HTTPRequest(
                method: method, url: base + path, headers: all,
                body: body.map { Array($0.utf8) } ?? (method == "POST" ? [] : nil),
                timeout: .seconds(30)))
    }

    func get(_ path: String, token: String? = nil) async throws -> HTTPResponse { try await send("GET", path, token: token) }

    func json(_ path: String, token: String = Tokens.viewer) async throws -> Any {
        let r = try await get(path, token: token)
        guard r.status == 200 else { throw TestFailure("GET \(path): \(r.status) \(r.text)") }
        return try JSONSerialization.jsonObject(with: Data(r.body))
    }

    /// Stops the service group and everything the controller started.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task?.value
        let driver = LocalTarget(workspace: workspace)
        for record in (try? store.deployments()) ?? [] { try? await driver.stop(record) }
    }
}
