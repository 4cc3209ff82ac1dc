import Foundation
import GantryTestSupport
import HTTP
import Testing

@testable import State
@testable import Targets

/// Serving from the registry: a local Deployment with `serve.registry` runs
/// `mlflow models serve` on the exact MLflow version that holds the pinned
/// Gantry version, behind the stable address.
extension MLflowTests {
    /// A training step that writes an MLflow model directory with plain
    /// Python (no mlflow import, so training stays fast): a pyfunc loader
    /// module whose predictions are the `quality` it was trained with.
    static let mlflowModelTrainer = #"""
        import json, os, sys
        out, quality = sys.argv[1], float(sys.argv[2])
        model = os.path.join(out, "model")
        os.makedirs(os.path.join(model, "code"), exist_ok=True)
        os.makedirs(os.path.join(model, "data"), exist_ok=True)
        open(os.path.join(model, "MLmodel"), "w").write(
            "flavors:\n  python_function:\n    loader_module: quality_model\n    code: code\n    data: data/model.json\n")
        open(os.path.join(model, "code", "quality_model.py"), "w").write(
            "import json\n"
            "class QualityModel:\n"
            "    def __init__(self, path):\n"
            "        self.quality = json.load(open(path))['quality']\n"
            "    def predict(self, model_input, params=None):\n"
            "        return [self.quality] * len(model_input)\n"
            "def _load_pyfunc(path):\n"
            "    return QualityModel(path)\n")
        json.dump({"quality": quality}, open(os.path.join(model, "data", "model.json"), "w"))
        json.dump({"accuracy": quality}, open(os.path.join(out, "metrics.json"), "w"))
        """#

    static func servedFromRegistry(_ model: String, version: Int, port: Int, on target: String) throws -> String {
        // The scoring server runs in the environment mlflow is installed in.
        let bin = (try Peers.mlflow() as NSString).deletingLastPathComponent
        return """
            apiVersion: gantry.dev/v1alpha1
            kind: Deployment
            metadata: { name: \(model)-prod }
            spec:
              model: \(model)
              version: \(version)
              address: 127.0.0.1:\(port)
              serve:
                registry: registry
                env: { PATH: "\(bin):/usr/local/bin:/usr/bin:/bin" }
              targets: [{ target: \(target) }]
              healthCheck: { path: /health, timeout: 180s, interval: 250ms }
            """
    }

    func predictions(_ project: TestProject) async throws -> String {
        let answer = try await HTTPClient.shared.send(
            HTTPRequest(
                method: "POST", url: "http://127.0.0.1:\(project.port)/invocations",
                headers: [("Content-Type", "application/json")], body: Array(#"{"inputs": [[1], [2]]}"#.utf8)))
        #expect(answer.status == 200, "\(answer.text)")
        return answer.text
    }

    /// On the local target, and on an agent node, which gets the registry's
    /// environment with the deploy request.
    @Test(arguments: ["local", "agent"])
    func aDeploymentServesThePinnedVersionFromTheRegistryAndFollowsThePin(on kind: String) async throws {
        let server = try MLflowServer.shared
        let model = "served-\(kind)"
        let node = kind == "agent" ? try await NodeAgent.start("node") : nil
        let target = node == nil ? "local" : "node"
        let project = try await Self.project(model, server: server)
        if let node {
            let tokenFile = makeTemporaryDirectory("agent-token") + "/token"
            try NodeAgent.token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
            project.write(
                "manifests/node.yaml",
                """
                apiVersion: gantry.dev/v1alpha1
                kind: Target
                metadata: { name: node }
                spec:
                  type: agent
                  endpoint: \(node.endpoint)
                  credentials: { token: { file: \(tokenFile) } }
                """)
        }
        project.write("src/train.py", Self.mlflowModelTrainer)
        project.write(
            "manifests/pipeline.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Pipeline
            metadata: { name: demo-training }
            spec:
              codePath: src
              steps:
                - name: train
                  command: [python3, train.py, "${outputs}", "${params.quality}"]
                  outputs: [model, metrics.json]
                  timeout: 1m
              artifact: { step: train, path: model }
              metrics: { step: train, path: metrics.json }
            """)
        project.write("manifests/deployment.yaml", try Self.servedFromRegistry(model, version: 1, port: project.port, on: target))
        try await project.commit("Serve \(model) from the registry")
        let h = try Harness(project)
        defer {
            Task {
                await h.tearDown()
                if let node {
                    await node.stopServing()
                    await node.stop()
                }
            }
        }

        let (plan, report) = try await h.apply()
        #expect(plan.actions.map(\.kind) == [.train, .deploy], "\(plan.text)")
        #expect(plan.actions.last?.target == target)
        #expect(report.ok, "\(report.failed.map(\.error))")
        #expect(try await predictions(project).contains("[0.9, 0.9]"))
        // Published on the way: MLflow version 1 is Gantry's v1.
        #expect(try await server.versions(of: model).map { $0.tag("gantry.version") } == ["1"])
        let record = try #require(try h.store.deployment("\(model)-prod"))
        #expect(record.target == target && record.version == 1)
        if let node {
            // The node keeps the request to observe it, without the
            // registry's environment (its credentials).
            let kept = try String(
                contentsOfFile: Workspace(root: node.directory, executable: gantryExecutable)
                    .deployment("\(model)-prod") + "/request.json", encoding: .utf8)
            #expect(kept.contains("\"spec\"") && !kept.contains("MLFLOW_TRACKING_URI"), "\(kept)")
        }

        // A retrain and a pin bump: the server is replaced by one loading v2.
        project.write("manifests/model.yaml", Self.modelManifest(model, quality: 0.95))
        project.write("manifests/deployment.yaml", try Self.servedFromRegistry(model, version: 2, port: project.port, on: target))
        try await project.commit("Ship \(model) v2 from the registry")
        let (second, secondReport) = try await h.apply()
        #expect(second.actions.map(\.kind) == [.train, .deploy], "\(second.text)")
        #expect(secondReport.ok, "\(secondReport.failed.map(\.error))")
        #expect(try await predictions(project).contains("[0.95, 0.95]"))
        #expect(try await server.versions(of: model).compactMap { $0.tag("gantry.version") }.sorted() == ["1", "2"])

        #expect(try await h.plan().actions.isEmpty)
    }
}
