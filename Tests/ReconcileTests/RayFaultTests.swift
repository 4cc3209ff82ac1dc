import Foundation
import GantryTestSupport
import HTTP
import Manifests
import Testing

@testable import State
@testable import Targets

/// A Ray dashboard that errs, hangs or is gone, scripted with FaultServer:
/// each becomes an error or an observation, never a crash, and a duplicate
/// submission is adopted.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RayFaultTests {
    static let record = DeploymentRecord(
        name: "demo-prod", model: "demo", version: 1, target: "ray", address: "",
        specDigest: "", commit: "", updatedAt: Date(),
        detail: #"{"application":"demo-prod","artifact":"/x","package":"gcs://p.zip"}"#)

    /// A Harness whose project's ray Target points at `endpoint`.
    func harness(_ endpoint: String, storage: String = makeTemporaryDirectory("ray-storage")) async throws -> Harness {
        try Harness(try await RayProject.make(dashboard: endpoint, storage: storage))
    }

    func observe(_ endpoint: String) async throws -> ObservedDeployment {
        let h = try await harness(endpoint)
        return try await RayProject.driver(h, try await RayProject.desired(h)).observe(Self.record, spec: nil)
    }

    @Test func aDashboardThatAnswers500HangsOrIsGoneIsAnObservationNotACrash() async throws {
        let failing = try FaultServer { _ in .status(500, "Traceback (most recent call last):\nRuntimeError: GCS unavailable") }
        let erring = try await observe(failing.endpoint)
        #expect(!erring.serving && erring.healthy == nil)
        #expect(erring.detail.contains("answered 500: Traceback (most recent call last): RuntimeError: GCS unavailable"), "\(erring.detail)")
        #expect(failing.requests.count == 2, "the observer's GET was retried once")

        let hanging = try FaultServer { _ in .hang(.seconds(20)) }
        let slow = try await observe(hanging.endpoint)
        #expect(!slow.serving && slow.detail.contains("after 2 tries"), "\(slow.detail)")
        hanging.stop()

        let gone = try FaultServer { _ in .json("{}") }
        let endpoint = gone.endpoint
        gone.stop()
        let refused = try await observe(endpoint)
        #expect(!refused.serving && refused.detail.hasPrefix("cannot read Serve applications from \(endpoint)"), "\(refused.detail)")
    }

    @Test func aSubmissionAnsweredWithADuplicateIdTracebackIsAdoptedNotSubmittedTwice() async throws {
        let storage = makeTemporaryDirectory("ray-storage")
        let submitted = Flag()
        let server = try FaultServer { request in
            switch (request.method, request.path) {
            case ("GET", let path) where path.hasPrefix("/api/jobs/"):
                return submitted.isSet ? .json(#"{"status": "SUCCEEDED", "message": "done"}"#) : .status(404, "Job does not exist")
            case ("POST", "/api/jobs/"):
                submitted.set()  // another controller got there first
                return .status(500, "Traceback (most recent call last):\nValueError: Job with submission_id already exists.")
            case ("GET", _): return .status(404, "Package does not exist")
            default: return .status(200)
            }
        }
        let h = try await harness(server.endpoint, storage: storage)
        let desired = try await RayProject.desired(h)
        let request = try RayProject.trainingRequest(desired)
        let submission = RayTarget.submissionID(model: "demo", digest: request.lineage.digest)
        let outputs = "\(storage)/\(submission)/steps/train/outputs"
        try FileManager.default.createDirectory(atPath: outputs, withIntermediateDirectories: true)
        try #"{"quality": 0.9}"#.write(toFile: outputs + "/model.json", atomically: true, encoding: .utf8)
        try #"{"accuracy": 0.9}"#.write(toFile: outputs + "/metrics.json", atomically: true, encoding: .utf8)

        let outcome = try await RayProject.driver(h, desired).train(request, launch: .untracked("train:demo:dup"))
        #expect(outcome.metrics == ["accuracy": 0.9])
        #expect(server.requests.filter { $0.method == "POST" }.count == 1)
        let body = try #require(server.requests.first { $0.method == "POST" }?.text)
        #expect(body.contains(#""submission_id":"\#(submission)""#))
        #expect(body.contains(#""working_dir":"gcs:\/\/gantry-"#) || body.contains(#""working_dir":"gcs://gantry-"#), "\(body)")
        #expect(server.requests.contains { $0.method == "PUT" && $0.path.hasPrefix("/api/packages/gcs/gantry-") })
    }

    @Test func aJobLookupThatKeepsFailingIsAnErrorAfterRetries() async throws {
        let server = try FaultServer { _ in .status(503, "dashboard restarting") }
        let h = try await harness(server.endpoint)
        let desired = try await RayProject.desired(h)
        let error = await #expect(throws: HTTPStatusError.self) {
            try await RayProject.driver(h, desired).train(try RayProject.trainingRequest(desired), launch: .untracked("train:demo:503"))
        }
        #expect(error?.status == 503)
        #expect(server.requests.count == RetryPolicy.standard.attempts, "an idempotent GET is retried")
    }

    @Test func aTargetWithoutEndpointOrAbsoluteStorageOrWithAnUnreadableTokenIsRefusedWithTheReason() async throws {
        let h = try await harness("http://127.0.0.1:1")
        func context(_ spec: TargetSpec) -> DriverContext { DriverContext(name: "ray", spec: spec, workspace: h.workspace, versions: h.store) }
        /// What `body` throws, in words; nil when it does not.
        func refusal(_ body: () throws -> Void) -> String? {
            do { try body() } catch { return "\(error)" }
            return nil
        }

        #expect(
            refusal { _ = try Drivers.make(context(TargetSpec(type: .ray))) }
                == "target ray (ray) needs spec.endpoint, the Ray dashboard's URL such as http://127.0.0.1:8265")
        var spec = TargetSpec(type: .ray, endpoint: "http://127.0.0.1:1")
        spec.credentials = ["token": SecretRef(env: "GANTRY_TEST_UNSET_RAY_TOKEN")]
        #expect(
            refusal { _ = try Drivers.make(context(spec)) }
                == "target ray: credentials.token (env:GANTRY_TEST_UNSET_RAY_TOKEN): environment variable GANTRY_TEST_UNSET_RAY_TOKEN is not set")
        spec.credentials = nil
        #expect(
            refusal { _ = try RayTarget(context(spec)).storage() } == "target ray (ray) needs spec.storage, a directory the controller and every Ray worker see"
        )
        spec.storage = "shared/gantry"
        #expect(refusal { _ = try RayTarget(context(spec)).storage() } == "target ray (ray): spec.storage must be an absolute path, found \"shared/gantry\"")
    }

    @Test func aNotebookStepASecretInServeEnvOrAMissingImportPathIsRefusedBeforeTheClusterChanges() async throws {
        let server = try FaultServer { request in request.method == "GET" ? .status(404, "does not exist") : .status(200) }
        let h = try await harness(server.endpoint)
        h.project.write(
            "manifests/pipeline.yaml",
            TestProject.pipeline(
                extraStep: """
                        - name: report
                          dependsOn: [train]
                          notebook: { path: report.ipynb }
                    """))
        try await h.project.commit("Add a notebook step")
        var desired = try await RayProject.desired(h)
        let ray = try RayProject.driver(h, desired)
        let error = await #expect(throws: DriverError.self) { try await ray.train(try RayProject.trainingRequest(desired), launch: .untracked("train:nb")) }
        #expect(error?.message == "step report is a notebook; the ray target runs command steps only")

        for (serve, problem) in [
            (
                "importPath: serve_app:build\n    env: { TOKEN: { secret: { env: SERVE_TOKEN } } }",
                "deployment demo-prod: serve.env TOKEN is a secret; the ray target does not write secrets into a Serve config, which the dashboard shows to anyone"
            ),
            (
                "workingDir: src",
                "deployment demo-prod needs spec.serve.importPath (module:attribute of a Serve application builder) on the ray target"
            ),
        ] {
            h.project.write(
                "manifests/deployment.yaml",
                """
                apiVersion: gantry.dev/v1alpha1
                kind: Deployment
                metadata: { name: demo-prod }
                spec:
                  model: demo
                  version: 1
                  serve:
                    \(serve)
                  targets: [{ target: ray }]
                """)
            try await h.project.commit("Change how demo is served")
            desired = try await RayProject.desired(h)
            let error = await #expect(throws: DriverError.self) {
                try await ray.deploy(try RayProject.deployRequest(desired, try RayProject.version(1, quality: 0.5)), launch: .untracked("deploy"))
            }
            #expect(error?.message == problem)
        }
        #expect(server.requests.allSatisfy { $0.method == "GET" }, "nothing was uploaded, submitted or replaced")
    }

    @Test func anApplicationThatNeverRunsTimesOutWithItsLastStatus() async throws {
        let server = try FaultServer { request in
            switch (request.method, request.path) {
            case ("GET", "/api/serve/applications/"):
                return .json(
                    #"{"applications": {"demo-prod": {"status": "DEPLOYING", "message": "waiting for replicas", "route_prefix": "/demo-prod", "deployed_app_config": {"name": "demo-prod", "args": {"version": 1}}}}}"#
                )
            default: return .status(200)
            }
        }
        let h = try await harness(server.endpoint)
        h.project.write(
            "manifests/deployment.yaml", RayProject.deployment(importPath: "serve_app:build").replacingOccurrences(of: "timeout: 2m", with: "timeout: 1s"))
        try await h.project.commit("Wait one second")
        let desired = try await RayProject.desired(h)
        let error = await #expect(throws: DriverError.self) {
            try await RayProject.driver(h, desired).deploy(
                try RayProject.deployRequest(desired, try RayProject.version(1, quality: 0.5)), launch: .untracked("deploy"))
        }
        #expect(error?.message == "Serve application demo-prod was not RUNNING within 1s: DEPLOYING: waiting for replicas")
        #expect(try h.store.deployment("demo-prod") == nil, "no record for what does not run")
    }

    @Test func aClusterWithAnApplicationNotDeployedFromAConfigIsLeftAlone() async throws {
        let server = try FaultServer { request in
            switch (request.method, request.path) {
            case ("GET", "/api/serve/applications/"):
                return .json(#"{"applications": {"theirs": {"status": "RUNNING", "source": "imperative", "deployed_app_config": null}}}"#)
            default: return .status(200)
            }
        }
        let h = try await harness(server.endpoint)
        let desired = try await RayProject.desired(h)
        let error = await #expect(throws: DriverError.self) {
            try await RayProject.driver(h, desired).deploy(
                try RayProject.deployRequest(desired, try RayProject.version(1, quality: 0.5)), launch: .untracked("deploy"))
        }
        #expect(error?.description.contains("Serve application theirs") == true, "\(error.map { "\($0)" } ?? "")")
        #expect(error?.description.contains("imperative") == true)
        #expect(!server.requests.contains { $0.method == "PUT" && $0.path == "/api/serve/applications/" }, "nothing was replaced")
    }
}
