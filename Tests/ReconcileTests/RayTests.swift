import Foundation
import GantryTestSupport
import HTTP
import Lineage
import Manifests
import Testing

@testable import Reconciler
@testable import Source
@testable import State
@testable import Targets

/// The demo project moved onto a Ray cluster: a Target of type ray, the
/// model trained there and the deployment served by Ray Serve.
enum RayProject {
    static func make(dashboard: String, storage: String, pipeline: String? = nil) async throws -> TestProject {
        let project = try await TestProject(port: freePort())
        project.write("src/serve_app.py", serveApp)
        project.write("src/args.py", "import json, sys\njson.dump(sys.argv[1:], open(sys.argv[2] + '/argv.json', 'w'))\n")
        project.write(
            "manifests/target.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: ray }
            spec:
              type: ray
              endpoint: \(dashboard)
              storage: \(storage)
            """)
        project.write(
            "manifests/model.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Model
            metadata: { name: demo }
            spec:
              pipeline: demo-training
              datasets: [rows]
              target: ray
              params: { quality: 0.9 }
              promotion: { policy: manual, gates: ["accuracy >= 0.8"] }
            """)
        if let pipeline { project.write("manifests/pipeline.yaml", pipeline) }
        project.write("manifests/deployment.yaml", deployment(importPath: "serve_app:build"))
        try await project.commit("Train and serve on Ray")
        return project
    }

    static func deployment(importPath: String, version: Int = 1) -> String {
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Deployment
        metadata: { name: demo-prod }
        spec:
          model: demo
          version: \(version)
          serve:
            importPath: "\(importPath)"
            workingDir: src
          targets: [{ target: ray }]
          healthCheck: { timeout: 2m }
        """
    }

    /// A Serve application builder: the artifact's path, the version and
    /// the model come in as args.
    static let serveApp = """
        import json
        from ray import serve

        @serve.deployment(ray_actor_options={"num_cpus": 0})
        class Model:
            def __init__(self, artifact, version, model):
                with open(artifact) as f:
                    self.quality = json.load(f)["quality"]
                self.version, self.model = version, model

            async def __call__(self, request):
                return {"model": self.model, "version": self.version, "quality": self.quality}

        def build(args):
            return Model.bind(args["artifact"], args["version"], args["model"])
        """

    static func desired(_ h: Harness) async throws -> DesiredState {
        try await h.reconciler.plan(try h.source.fetch(), readOnly: true).0
    }

    static func driver(_ h: Harness, _ desired: DesiredState) throws -> RayTarget {
        var driver = try #require(try Drivers.make(target: "ray", in: desired.manifests, workspace: h.workspace, versions: h.store) as? RayTarget)
        driver.pollInterval = .milliseconds(200)
        return driver
    }

    static func trainingRequest(_ desired: DesiredState) throws -> TrainingRequest {
        let model = try #require(desired.manifests.models["demo"])
        let lineage = try #require(desired.models["demo"]?.lineage, "\(desired.models["demo"]?.problem ?? "")")
        return TrainingRequest(
            model: model, pipeline: try #require(desired.manifests.pipelines[model.spec.pipeline]), lineage: lineage,
            revision: desired.revision, datasets: desired.manifests.datasets.filter { $0.key == "rows" })
    }

    /// A version as training would have registered it, with a model file
    /// of the given quality.
    static func version(_ number: Int, quality: Double) throws -> VersionRecord {
        let path = makeTemporaryDirectory("ray-artifact") + "/model.json"
        try #"{"quality": \#(quality)}"#.write(toFile: path, atomically: true, encoding: .utf8)
        return VersionRecord(
            model: "demo", number: number, digest: "sha256:v\(number)", lineage: "{}", metrics: "{}",
            artifactPath: path, artifactDigest: "sha256:" + (try Digest.sha256(file: path)), commit: "",
            gatesPassed: true, gateReport: "", createdAt: Date())
    }

    static func deployRequest(_ desired: DesiredState, _ version: VersionRecord, current: DeploymentRecord? = nil) throws -> DeployRequest {
        DeployRequest(
            deployment: try #require(desired.manifests.deployments["demo-prod"]), version: version, revision: desired.revision,
            current: current, specDigest: "test")
    }
}

/// Training as Ray jobs and serving as Ray Serve applications, against one
/// real Ray head for the whole suite.
@Suite(.serialized, .timeLimit(.minutes(5)), .rayHead)
struct RayTests {
    var head: RayHead { RayHead.current! }

    @Test func aTrainingRunsAsARayJobAndTrainingTheSameLineageAgainAdoptsItsSubmission() async throws {
        let storage = makeTemporaryDirectory("ray-storage")
        let h = try Harness(try await RayProject.make(dashboard: head.dashboard, storage: storage))
        let desired = try await RayProject.desired(h)
        let ray = try RayProject.driver(h, desired)
        let request = try RayProject.trainingRequest(desired)

        let recorder = LaunchRecorder("train:demo:ray-test")
        let outcome = try await ray.train(request, launch: recorder.launch)
        #expect(outcome.metrics == ["accuracy": 0.9])
        #expect(outcome.steps == ["train succeeded"])
        #expect(outcome.artifactPath.hasPrefix(h.workspace.root + "/artifacts/"), "stored by digest in the workspace")
        let model = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: outcome.artifactPath))) as? [String: Any]
        #expect(model?["quality"] as? Double == 0.9)
        let submission = RayTarget.submissionID(model: "demo", digest: request.lineage.digest)
        #expect(FileManager.default.fileExists(atPath: "\(storage)/\(submission)/steps/train/outputs/model.json"))
        #expect(recorder.detail?.contains(submission) == true, "the launch names the submission before the driver waits")
        // What the worker ran on, as the runner reported it.
        let runtime = try #require(outcome.runtime, "the runner reports its worker's runtime")
        #expect(runtime.interpreter?.contains("python") == true && runtime.interpreterVersion?.hasPrefix("3.") == true, "\(runtime)")
        #expect((runtime.packages ?? 0) > 10 && runtime.packagesDigest?.hasPrefix("sha256:") == true, "ray itself is installed there: \(runtime)")
        let packages = try String(contentsOfFile: try #require(runtime.packagesFile), encoding: .utf8)
        #expect(packages.split(separator: "\n").contains { $0.lowercased().hasPrefix("ray==") }, "the list is kept on the controller")
        #expect(runtime.kernel != nil && runtime.environment.contains("PATH") && !runtime.environment.contains { $0.contains("=") })

        let again = try await ray.train(request, launch: .untracked("train:demo:ray-test"))
        #expect(again.artifactDigest == outcome.artifactDigest)
        let jobs = try await head.jobs().filter { $0.submission_id?.hasPrefix("gantry-demo-") == true }
        #expect(jobs.map(\.submission_id) == [submission], "the second train adopted the first job")
        #expect(jobs.first?.status == "SUCCEEDED")
    }

    @Test func stepsGetTheirArgvWithoutAShellAndAFailedJobReportsItsLogThenRetriesUnderANewSubmission() async throws {
        let storage = makeTemporaryDirectory("ray-storage")
        let pipeline = """
            apiVersion: gantry.dev/v1alpha1
            kind: Pipeline
            metadata: { name: demo-training }
            spec:
              codePath: src
              steps:
                - name: args
                  command: [python3, args.py, "it's \\"quoted\\" $(touch pwned) ; `id` ${params.quality}", "${outputs}", "${datasets.rows}"]
                  outputs: [argv.json]
                - name: train
                  dependsOn: [args]
                  command: [python3, -c, "import sys; print('the loss diverged'); sys.exit(3)"]
              artifact: { step: train, path: model.json }
            """
        let h = try Harness(try await RayProject.make(dashboard: head.dashboard, storage: storage, pipeline: pipeline))
        let desired = try await RayProject.desired(h)
        let ray = try RayProject.driver(h, desired)
        let request = try RayProject.trainingRequest(desired)
        let submission = RayTarget.submissionID(model: "demo", digest: request.lineage.digest)

        let error = await #expect(throws: DriverError.self) { try await ray.train(request, launch: .untracked("train:demo:fails")) }
        let message = error?.description ?? ""
        #expect(message.hasPrefix("ray job \(submission) FAILED"), "\(message)")
        #expect(message.contains("gantry: step train exited with status 3"), "\(message)")
        #expect(message.contains("the loss diverged"), "\(message)")

        let argv =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(storage)/\(submission)/steps/args/outputs/argv.json"))) as? [String]
        #expect(argv?.count == 3)
        #expect(argv?.first == "it's \"quoted\" $(touch pwned) ; `id` 0.9")
        #expect(argv?[1] == "\(storage)/\(submission)/steps/args/outputs")
        #expect(argv?.last?.hasPrefix("/") == true && argv?.last?.hasSuffix("/data/rows.csv") == true, "the dataset inside the unpacked project")

        await #expect(throws: DriverError.self) { try await ray.train(request, launch: .untracked("train:demo:fails")) }
        let jobs = try await head.jobs().filter { $0.submission_id?.hasPrefix(submission) == true }
        #expect(Set(jobs.compactMap(\.submission_id)) == [submission, submission + "-2"], "a failed job is tried again, not adopted")
    }

    @Test func aDeploymentIsAServeApplicationUpdatedInPlaceAndAForeignApplicationIsNeverTouched() async throws {
        let storage = makeTemporaryDirectory("ray-storage")
        let h = try Harness(try await RayProject.make(dashboard: head.dashboard, storage: storage))
        let desired = try await RayProject.desired(h)
        let ray = try RayProject.driver(h, desired)

        // Another team's application, deployed through the same API.
        var zip = ZipArchive()
        zip.add(
            "foreign.py",
            contents: Array(
                """
                from ray import serve
                @serve.deployment(ray_actor_options={"num_cpus": 0})
                class Hello:
                    def __init__(self, greeting):
                        self.greeting = greeting
                    async def __call__(self, request):
                        return self.greeting
                def build(args):
                    return Hello.bind(args["greeting"])
                """.utf8))
        try await head.client.send("PUT", "/api/packages/gcs/team-b-foreign.zip", body: try zip.bytes(), contentType: "application/zip")
        try await head.putServe(
            """
            {"http_options": {"host": "127.0.0.1", "port": \(head.servePort)}, "applications": [{"name": "team-b", "route_prefix": "/team-b",
             "import_path": "foreign:build", "runtime_env": {"working_dir": "gcs://team-b-foreign.zip"},
             "args": {"greeting": "hello from team b", "loud": true, "ratio": 0.25}}]}
            """)
        let foreign = try #require(try await head.waitFor("team-b", status: "RUNNING"))
        func foreignIsUntouched() async throws {
            let now = try #require(try await head.applications()["team-b"])
            #expect(now["status"] as? String == "RUNNING")
            #expect(
                NSDictionary(dictionary: now["deployed_app_config"] as? [String: Any] ?? [:])
                    == NSDictionary(dictionary: foreign["deployed_app_config"] as? [String: Any] ?? [:]))
            #expect(Self.replicas(now) == Self.replicas(foreign), "no replica of team-b was restarted")
            #expect(try await head.serve("/team-b").text == "hello from team b")
            // JSON's own types survive the round trip through Gantry.
            let raw = try await head.client.send("GET", "/api/serve/applications/").text
            #expect(raw.contains(#""loud": true"#) && raw.contains(#""ratio": 0.25"#))
        }

        let v1 = try await ray.deploy(try RayProject.deployRequest(desired, try RayProject.version(1, quality: 0.5)), launch: .untracked("deploy"))
        #expect(v1.address == "http://127.0.0.1:\(head.servePort)/demo-prod")
        let detail = try #require(RayTarget.detail(v1))
        #expect(detail.application == "demo-prod" && detail.package.hasPrefix("gcs://gantry-"))
        #expect(detail.artifact.hasPrefix(storage + "/artifacts/"), "replicas read the artifact from the shared storage")
        #expect(v1.version == 1 && v1.model == "demo")
        #expect(try await head.serve("/demo-prod").text == #"{"model":"demo","version":1,"quality":0.5}"#)
        let observed = await ray.observe(v1, spec: nil)
        #expect(observed.serving && observed.forwarding && observed.healthy == true, "\(observed.detail)")
        try await foreignIsUntouched()

        let v2 = try await ray.deploy(
            try RayProject.deployRequest(desired, try RayProject.version(2, quality: 0.75), current: v1), launch: .untracked("deploy"))
        #expect(try await head.serve("/demo-prod").text == #"{"model":"demo","version":2,"quality":0.75}"#)
        #expect(await ray.observe(v2, spec: nil).forwarding)
        let stale = await ray.observe(v1, spec: nil)
        #expect(!stale.forwarding && stale.detail == "Serve application demo-prod serves version 2, not 1")
        try await foreignIsUntouched()

        try await ray.stop(v2)
        try await head.waitFor("demo-prod", status: nil)
        let gone = await ray.observe(v2, spec: nil)
        #expect(!gone.serving && gone.detail == "Serve application demo-prod is not on the cluster")
        try await foreignIsUntouched()
        try await ray.stop(v2)  // stopping what is gone changes nothing
        try await foreignIsUntouched()
    }

    @Test func anApplicationThatFailsToDeployIsAnErrorWithServesMessage() async throws {
        let h = try Harness(try await RayProject.make(dashboard: head.dashboard, storage: makeTemporaryDirectory("ray-storage")))
        h.project.write("manifests/deployment.yaml", RayProject.deployment(importPath: "no_such_module:build"))
        try await h.project.commit("Serve a module that does not exist")
        let desired = try await RayProject.desired(h)
        let ray = try RayProject.driver(h, desired)

        let error = await #expect(throws: DriverError.self) {
            try await ray.deploy(try RayProject.deployRequest(desired, try RayProject.version(1, quality: 0.5)), launch: .untracked("deploy"))
        }
        #expect(error?.description.hasPrefix("Serve application demo-prod is DEPLOY_FAILED: ") == true, "\(error.map { "\($0)" } ?? "")")
        #expect(error?.description.contains("no_such_module") == true)
        let record = DeploymentRecord(
            name: "demo-prod", model: "demo", version: 1, target: "ray", address: "",
            specDigest: "", commit: "", updatedAt: Date())
        let observed = await ray.observe(record, spec: nil)
        #expect(observed.serving && observed.healthy == false && observed.detail.hasPrefix("Serve application demo-prod is DEPLOY_FAILED"))
        try await ray.stop(record)
        try await head.waitFor("demo-prod", status: nil)
    }

    @Test func aReconcileTrainsAndServesOnRayAndThenHasNothingToDo() async throws {
        let h = try Harness(try await RayProject.make(dashboard: head.dashboard, storage: makeTemporaryDirectory("ray-storage")))
        let plan = try await h.plan()
        #expect(plan.actions.map(\.kind) == [.train, .deploy], "\(plan.text)")

        let (_, report) = try await h.apply()
        #expect(report.result == .applied, "\(report.failed.map { "\($0.error)" })")
        #expect(try h.store.versions(of: "demo").map(\.metricValues) == [["accuracy": 0.9]])
        let record = try #require(try h.store.deployment("demo-prod"))
        #expect(record.target == "ray" && record.version == 1)
        #expect(try await head.serve("/demo-prod").text == #"{"model":"demo","version":1,"quality":0.9}"#)

        let again = try await h.plan()
        #expect(again.actions.isEmpty, "\(again.text)")

        let stopped = try await h.reconciler.destroy(actor: "test", manifests: try await RayProject.desired(h).manifests)
        #expect(stopped.map(\.name) == ["demo-prod"])
        try await head.waitFor("demo-prod", status: nil)
    }

    static func replicas(_ app: [String: Any]) -> Set<String> {
        let deployments = app["deployments"] as? [String: [String: Any]] ?? [:]
        return Set(deployments.values.flatMap { ($0["replicas"] as? [[String: Any]] ?? []).compactMap { $0["replica_id"] as? String } })
    }
}
