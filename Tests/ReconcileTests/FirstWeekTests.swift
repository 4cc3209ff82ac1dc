import Foundation
import GantryTestSupport
import Manifests
import Processes
import Testing

@testable import Lineage
@testable import Reconciler
@testable import State
@testable import Targets

/// What a new user meets in the first week: a secret in a step's
/// environment, a perfect score, a scheduled retrain, a step cache that must
/// not hide the schedule.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct FirstWeekTests {
    /// The demo project whose train step also runs `extra` lines of Python
    /// and gets `env`.
    func project(env: String, extra: String = "") async throws -> TestProject {
        let project = try await TestProject(port: freePort())
        project.remove("manifests/deployment.yaml")
        project.write("src/train.py", TestProject.train + extra)
        project.write(
            "manifests/pipeline.yaml",
            TestProject.pipeline(extraStep: "")
                .replacingOccurrences(of: "      timeout: 1m", with: "      timeout: 1m\n      env: \(env)"))
        try await project.commit("Train with an environment")
        return project
    }

    @Test func aSecretInAStepsEnvReachesTheStepAndNeitherTheJobFileNorTheLog() async throws {
        let variable = "GANTRY_TEST_API_TOKEN_\(UUID().uuidString.prefix(8))"
        let value = "s3cr3t-\(UUID().uuidString)"
        setenv(variable, value, 1)
        defer { unsetenv(variable) }
        let seen = makeTemporaryDirectory("seen") + "/token"
        let project = try await project(
            env: "{ API_TOKEN: { secret: { env: \(variable) } }, SEEN: \"\(seen)\" }",
            extra: """

                open(os.environ["SEEN"], "w").write(os.environ.get("API_TOKEN", "<unset>"))
                print("token has", len(os.environ.get("API_TOKEN", "")), "characters")
                """)
        let h = try Harness(project)
        let (_, report) = try await h.apply()
        #expect(report.ok, "\(report.failed.map(\.error))")
        #expect(try String(contentsOfFile: seen, encoding: .utf8) == value, "the step got the secret's value")

        let version = try #require(try h.store.versions(of: "demo").first)
        let run = h.workspace.run(model: "demo", digest: version.digest)
        let job = try String(contentsOfFile: run + "/job.json", encoding: .utf8)
        #expect(job.contains(#""API_TOKEN" : {"#) && job.contains(variable), "the job file keeps the reference")
        for file in try FileManager.default.subpathsOfDirectory(atPath: run) {
            guard let text = FileManager.default.contents(atPath: run + "/" + file) else { continue }
            #expect(!String(decoding: text, as: UTF8.self).contains(value), "\(file) holds the secret")
        }
        await h.tearDown()
    }

    @Test func aSecretThatCannotBeReadFailsTheStepNamingTheReferenceNotTheJobFile() async throws {
        let variable = "GANTRY_TEST_UNSET_\(UUID().uuidString.prefix(8))"
        let project = try await project(env: "{ API_TOKEN: { secret: { env: \(variable) } } }")
        let h = try Harness(project)
        let (_, report) = try await h.apply()
        let error = try #require(report.failed.first?.error)
        #expect(error == "step train: API_TOKEN: environment variable \(variable) is not set", "\(error)")
        #expect(try h.store.versions(of: "demo").isEmpty)
        await h.tearDown()
    }

    @Test func metricsOfZeroAndOneCountAndOnlyNumbersAreKept() async throws {
        let project = try await project(
            env: "{ PYTHONUNBUFFERED: \"1\" }",
            extra: """

                with open(os.path.join(out, "metrics.json"), "w") as f:
                    f.write('{"accuracy": 1, "loss": 0, "two": 2, "half": 0.5, "flag": true, "off": false, "name": "x", "list": [1]}')
                """)
        project.write(
            "manifests/model.yaml",
            TestProject.model(
                "demo", quality: 0.9,
                extra: """
                      promotion: { policy: manual, gates: ["accuracy >= 1", "loss <= 0"] }
                    """))
        try await project.commit("A perfect score")
        let h = try Harness(project)
        let (_, report) = try await h.apply()
        #expect(report.ok, "\(report.failed.map(\.error))")
        let version = try #require(try h.store.versions(of: "demo").first)
        #expect(version.metricValues == ["accuracy": 1, "loss": 0, "two": 2, "half": 0.5])
        #expect(version.gatesPassed, "\(version.gateReport)")
        await h.tearDown()
    }

    @Test func aScheduledRetrainRunsItsStepsAgainInsteadOfRestoringThemFromTheCache() async throws {
        let marker = makeTemporaryDirectory("marker") + "/runs"
        let project = try await project(env: "{ TRAIN_MARKER: \"\(marker)\" }")
        project.write("manifests/model.yaml", TestProject.model("demo", quality: 0.9, extra: "  triggers: { schedule: 1h }"))
        try await project.commit("Retrain hourly")
        let h = try Harness(project)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        for hour in 0..<2 {
            let now = start.addingTimeInterval(Double(hour) * 3600)
            let (desired, plan) = try await h.reconciler.plan(try h.source.fetch(), now: now)
            #expect(plan.actions.map(\.kind) == [.train])
            let report = try await h.reconciler.apply(plan, desired: desired, actor: "test")
            #expect(report.ok, "\(report.failed.map(\.error))")
        }
        let runs = try String(contentsOfFile: marker, encoding: .utf8).split(separator: "\n")
        #expect(runs.count == 2, "the second period trained again rather than restoring the first one's outputs")
        #expect(try h.store.versions(of: "demo").map(\.number) == [1, 2])

        #expect(
            try await h.reconciler.plan(try h.source.fetch(), now: start.addingTimeInterval(3600 + 60)).1.actions.isEmpty,
            "within the second period nothing trains again")
        await h.tearDown()
    }
}
