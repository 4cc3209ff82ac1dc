import Foundation
import GantryTestSupport
import Testing

/// `triggers.runtime`: a Model retrains when the Python environment its
/// steps run in changes (here a distribution appears on the step's
/// `sys.path`), a Model without the trigger does not, and the field is
/// refused where the environment cannot be read before training.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct RuntimeTriggerTests {
    static func manifests(site: String, trigger: Bool = true) -> String {
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Pipeline
        metadata: { name: fit }
        spec:
          codePath: src
          steps:
            - name: train
              command: [python3, -c, "import json, sys\\nopen(sys.argv[1] + '/model.txt', 'w').write('m')\\njson.dump({'score': 1}, open(sys.argv[1] + '/metrics.json', 'w'))", "${outputs}"]
              env: { PYTHONPATH: \(site) }
              outputs: [model.txt, metrics.json]
          artifact: { step: train, path: model.txt }
          metrics: { step: train, path: metrics.json }
        ---
        apiVersion: gantry.dev/v1alpha1
        kind: Model
        metadata: { name: watched }
        spec: { pipeline: fit, target: local, triggers: { runtime: \(trigger) } }
        ---
        apiVersion: gantry.dev/v1alpha1
        kind: Model
        metadata: { name: unwatched }
        spec: { pipeline: fit, target: local, params: { other: 1 } }
        """
    }

    @Test func aNewPackageRetrainsTheModelThatWatchesItsEnvironmentOnly() async throws {
        let site = makeTemporaryDirectory("gantry-site")
        let repository = try await ProjectRepository("gantry-runtime-trigger")
        repository.write("gantry.yaml", Self.manifests(site: site))
        repository.write("src/README", "training code lives here\n")
        try await repository.commit("Two models, one watching its environment")
        let state = makeTemporaryDirectory("gantry-runtime-state")
        func gantry(_ arguments: [String], repo: Bool = true) async throws -> CommandResult {
            try await GantryTestSupport.gantry(
                arguments + (repo ? ["--repo", repository.directory] : []) + ["--state-dir", state], in: repository.directory, timeout: .seconds(120))
        }

        let first = try await gantry(["apply"])
        #expect(first.code == 0 && first.output.contains("registered watched@v1") && first.output.contains("registered unwatched@v1"), "\(first.output)")
        let quiet = try await gantry(["plan"])
        #expect(quiet.code == 0, "the same environment: nothing to do: \(quiet.output)")

        // A package appears where the step's Python finds it.
        try FileManager.default.createDirectory(atPath: site + "/fancy_tokenizer-2.1.0.dist-info", withIntermediateDirectories: true)
        let plan = try await gantry(["plan"])
        #expect(plan.code == 2, "\(plan.output)")
        #expect(
            plan.output.contains("train Model/watched -> v2: runtime environment changed (python 3.")
                && plan.output.contains("runtime environment changed (python "), "\(plan.output)")
        #expect(plan.output.contains("Model/unwatched: v1 matches the current lineage"), "a model without the trigger stays: \(plan.output)")
        let second = try await gantry(["apply"])
        #expect(second.code == 0 && second.output.contains("registered watched@v2"), "\(second.output)")
        let lineage = try await gantry(["lineage", "watched@2", "-o", "json"], repo: false)
        let object = try JSONSerialization.jsonObject(with: Data(lineage.output.utf8)) as? [String: Any]
        let environment = (object?["lineage"] as? [String: Any])?["environment"] as? String
        #expect(environment?.hasPrefix("python 3.") == true && environment?.contains(" packages sha256:") == true, "\(lineage.output)")
        let settled = try await gantry(["plan"])
        #expect(settled.code == 0, "\(settled.output)")

        // Without the trigger the environment is not read, and the version
        // the model has stays its match.
        repository.write("gantry.yaml", Self.manifests(site: site, trigger: false))
        try await repository.commit("Stop watching")
        try FileManager.default.createDirectory(atPath: site + "/another-1.0.dist-info", withIntermediateDirectories: true)
        let off = try await gantry(["plan"])
        #expect(off.code == 0, "\(off.output)")
    }

    @Test func theTriggerIsRefusedWhereTheEnvironmentCannotBeReadFirst() async throws {
        let directory = makeTemporaryDirectory("gantry-runtime-invalid")
        let text =
            Self.manifests(site: "/nowhere")
            .replacingOccurrences(of: "command: [python3, -c,", with: "command: [Rscript, -e,")
                + """

                ---
                apiVersion: gantry.dev/v1alpha1
                kind: Target
                metadata: { name: cluster }
                spec: { type: ray, endpoint: "http://127.0.0.1:8265" }
                ---
                apiVersion: gantry.dev/v1alpha1
                kind: Model
                metadata: { name: remote }
                spec: { pipeline: fit, target: cluster, triggers: { runtime: true } }
                """
        try text.write(toFile: directory + "/gantry.yaml", atomically: true, encoding: .utf8)
        let result = try await GantryTestSupport.gantry(["validate", directory], in: directory, timeout: .seconds(60))
        #expect(result.code == 1, "\(result.output)")
        #expect(
            result.output.contains("gantry.yaml:") && result.output.contains("spec.triggers.runtime")
                && result.output.contains("no step of pipeline \"fit\" runs Python"), "\(result.output)")
        #expect(result.output.contains("target cluster is ray"), "\(result.output)")
    }
}
