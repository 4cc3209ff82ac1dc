import Foundation
import GantryTestSupport
import HTTP
import Processes
import Testing

@testable import Planner
@testable import Reconciler
@testable import Source
@testable import State
@testable import Targets

/// A small but real ML project in a Git repository: a training script that
/// writes a model and metrics (standard library only), a serving script, a
/// dataset, and manifests that tie them together on the local target.
final class TestProject: ProjectRepository, @unchecked Sendable {
    let port: Int

    init(port: Int) async throws {
        self.port = port
        try await super.init("gantry-project")
        write("src/train.py", Self.train)
        write("src/serve.py", Self.serve)
        write("data/rows.csv", "x,y\n1,2\n3,4\n")
        writeRowsDataset(path: "data/rows.csv")
        write("manifests/pipeline.yaml", Self.pipeline(extraStep: ""))
        write(
            "manifests/model.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Model
            metadata: { name: demo }
            spec:
              pipeline: demo-training
              datasets: [rows]
              target: local
              params: { quality: 0.9 }
              promotion: { policy: manual, gates: ["accuracy >= 0.8"] }
            """)
        write("manifests/deployment.yaml", deployment(version: 1))
        try await commit("Add the demo model")
    }

    func deployment(version: Int, extra: String = "") -> String {
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Deployment
        metadata: { name: demo-prod }
        spec:
          model: demo
          version: \(version)
          address: 127.0.0.1:\(port)
          serve:
            command: [python3, serve.py, --model, "${artifact}", --port, "${port}", --version, "${version}"]
            workingDir: src
        \(extra)  targets: [{ target: local }]
          healthCheck: { path: /health, timeout: 20s, interval: 100ms }
        """
    }

    /// A Model trained by the project's pipeline on `rows`, with `extra`
    /// lines added to its spec.
    static func model(_ name: String, quality: Double, extra: String = "") -> String {
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Model
        metadata: { name: \(name) }
        spec:
          pipeline: demo-training
          datasets: [rows]
          target: local
          params: { quality: \(quality) }
        \(extra)
        """
    }

    static func pipeline(extraStep: String) -> String {
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Pipeline
        metadata: { name: demo-training }
        spec:
          codePath: src
          params: { quality: 0.5 }
          steps:
            - name: train
              command: [python3, train.py, "${datasets.rows}", "${outputs}", "${params.quality}"]
              outputs: [model.json, metrics.json]
              timeout: 1m
        \(extraStep)
          artifact: { step: train, path: model.json }
          metrics: { step: train, path: metrics.json }
        """
    }

    static let train = """
        import hashlib, json, os, sys
        data, out, quality = sys.argv[1], sys.argv[2], float(sys.argv[3])
        files = [os.path.join(data, n) for n in sorted(os.listdir(data))] if os.path.isdir(data) else [data]
        digest = hashlib.sha256(b"".join(open(f, "rb").read() for f in files)).hexdigest()
        with open(os.path.join(out, "model.json"), "w") as f:
            json.dump({"data": digest, "quality": quality}, f, sort_keys=True)
        with open(os.path.join(out, "metrics.json"), "w") as f:
            json.dump({"accuracy": quality}, f)
        marker = os.environ.get("TRAIN_MARKER")
        if marker:
            open(marker, "a").write("trained\\n")
        """

    static let serve = """
        import argparse, json, signal, sys, threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        p = argparse.ArgumentParser()
        p.add_argument("--model"); p.add_argument("--port", type=int); p.add_argument("--version")
        a = p.parse_args()
        model = json.load(open(a.model))
        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps({"version": a.version, "quality": model["quality"]}).encode()
                self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args): pass
        s = ThreadingHTTPServer(("127.0.0.1", a.port), H)
        s.daemon_threads = True
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=s.shutdown).start())
        s.serve_forever()
        """

    /// The Model's `quality` param set from 0.9 to `quality`: a new
    /// lineage, so the next apply trains another version.
    func setQuality(_ quality: String) throws {
        let path = directory + "/manifests/model.yaml"
        write("manifests/model.yaml", try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "quality: 0.9", with: "quality: \(quality)"))
    }

    /// The `rows` Dataset, reading `path`: relative to the project (data in
    /// Git) or absolute (data outside it).
    func writeRowsDataset(path: String) {
        write(
            "manifests/data.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Dataset
            metadata: { name: rows }
            spec:
              source: { path: \(path) }
            """)
    }
}

/// A reconciler with its own state directory over a project's repository.
final class Harness: @unchecked Sendable {
    let project: TestProject
    let store: StateStore
    let workspace: Workspace
    let reconciler: Reconciler
    let source: GitSource

    init(_ project: TestProject, path: String = "", location: String? = nil, state: String? = nil) throws {
        self.project = project
        let state = state ?? makeTemporaryDirectory("gantry-state")
        workspace = Workspace(root: state, executable: gantryExecutable)
        store = try StateStore(directory: state)
        source = try GitSource(location: location ?? project.directory, ref: "main", path: path, cacheDirectory: workspace.sources)
        reconciler = Reconciler(store: store, workspace: workspace, writeBack: source)
    }

    func plan() async throws -> Plan {
        try await reconciler.plan(try source.fetch(), readOnly: true).1
    }

    @discardableResult
    func apply() async throws -> (plan: Plan, report: Reconciler.Report) {
        let (desired, plan) = try await reconciler.plan(try source.fetch())
        return (plan, try await reconciler.apply(plan, desired: desired, actor: "test"))
    }

    /// Stops every process this harness started.
    func tearDown() async {
        let driver = LocalTarget(workspace: workspace)
        for record in (try? store.deployments()) ?? [] { try? await driver.stop(record) }
    }

    func get(_ path: String = "/") async throws -> String {
        try await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:\(project.port)\(path)")).text
    }
}

/// A flag one task sets and another reads.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
