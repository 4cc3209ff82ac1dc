import Foundation
import GantryTestSupport
import Lineage
import Testing

@testable import Reconciler
@testable import State
@testable import Targets

@Suite(.serialized, .timeLimit(.minutes(3)))
struct StepCacheTests {
    /// A prepare -> train -> evaluate pipeline whose steps log each run.
    func threeStepProject(marker: String) async throws -> TestProject {
        let project = try await TestProject(port: freePort())
        let log = "import os, sys\nopen(os.environ['MARKER'], 'a').write(os.path.basename(sys.argv[0])[:-3] + '\\n')\n"
        project.write("src/prepare.py", log + "import shutil\nshutil.copy(sys.argv[1], os.path.join(sys.argv[2], 'clean.csv'))\n")
        project.write(
            "src/fit.py",
            log + """
                import json
                rows = open(os.path.join(sys.argv[1], 'clean.csv')).read().count('\\n')
                json.dump({'rows': rows, 'quality': float(sys.argv[3])}, open(os.path.join(sys.argv[2], 'model.json'), 'w'))
                """)
        project.write(
            "src/evaluate.py",
            log + """
                import json
                m = json.load(open(os.path.join(sys.argv[1], 'model.json')))
                json.dump({'accuracy': m['quality']}, open(os.path.join(sys.argv[2], 'metrics.json'), 'w'))
                """)
        project.write(
            "manifests/pipeline.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Pipeline
            metadata: { name: demo-training }
            spec:
              codePath: src
              params: { quality: 0.5 }
              steps:
                - name: prepare
                  command: [python3, prepare.py, "${datasets.rows}", "${outputs}"]
                  inputs: [src/prepare.py]
                  env: { MARKER: "\(marker)" }
                - name: fit
                  dependsOn: [prepare]
                  command: [python3, fit.py, "${steps.prepare}", "${outputs}", "${params.quality}"]
                  inputs: [src/fit.py]
                  env: { MARKER: "\(marker)" }
                - name: evaluate
                  dependsOn: [fit]
                  command: [python3, evaluate.py, "${steps.fit}", "${outputs}"]
                  inputs: [src/evaluate.py]
                  env: { MARKER: "\(marker)" }
              artifact: { step: fit, path: model.json }
              metrics: { step: evaluate, path: metrics.json }
            """)
        try await project.commit("Three steps")
        return project
    }

    func runs(_ marker: String) throws -> [String] {
        try String(contentsOfFile: marker, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    @Test func changingTheEvaluationStepRerunsOnlyIt() async throws {
        let marker = makeTemporaryDirectory("marker") + "/runs"
        let project = try await threeStepProject(marker: marker)
        let h = try Harness(project)
        try await h.apply()
        #expect(try runs(marker) == ["prepare", "fit", "evaluate"])

        project.write(
            "src/evaluate.py",
            try String(contentsOfFile: project.directory + "/src/evaluate.py", encoding: .utf8)
                .replacingOccurrences(of: "m['quality']", with: "m['quality'] * 0.99"))
        try await project.commit("Stricter evaluation")
        let (plan, report) = try await h.apply()
        #expect(plan.actions.first?.reason.hasPrefix("training code src changed") == true)
        #expect(report.failed.isEmpty, "\(report.failed.map(\.error))")
        #expect(try runs(marker) == ["prepare", "fit", "evaluate", "evaluate"], "only the evaluation ran again")
        let versions = try h.store.versions(of: "demo")
        #expect(versions.map(\.number) == [1, 2])
        #expect(versions[1].artifactDigest == versions[0].artifactDigest, "the model came from the cache")
        #expect(abs((versions[1].metricValues["accuracy"] ?? 0) - 0.9 * 0.99) < 1e-9)
        await h.tearDown()
    }

    @Test func aParamsChangeRerunsTheStepsThatUseItAndThoseAfter() async throws {
        let marker = makeTemporaryDirectory("marker") + "/runs"
        let project = try await threeStepProject(marker: marker)
        let h = try Harness(project)
        try await h.apply()
        try project.setQuality("0.85")
        try await project.commit("Lower quality")
        try await h.apply()
        #expect(try runs(marker) == ["prepare", "fit", "evaluate", "fit", "evaluate"])
        let lineage = try #require(try h.store.version("demo", 2)).lineage
        let run = h.workspace.run(model: "demo", digest: try #require(Lineage(json: lineage)).digest)
        let result = try JSONDecoder().decode(JobResult.self, from: Data(contentsOf: URL(fileURLWithPath: run + "/result.json")))
        #expect(result.steps.map { "\($0.name) \($0.status)" } == ["prepare cached", "fit succeeded", "evaluate succeeded"])
        await h.tearDown()
    }
}

extension Lineage {
    init?(json: String) {
        guard let l = Lineage.decode(json) else { return nil }
        self = l
    }
}
