import Crypto
import Foundation
import GantryTestSupport
import HTTP
import Manifests
import Testing

@testable import Lineage
@testable import Planner
@testable import Reconciler
@testable import Source
@testable import State
@testable import Targets

/// The `sagemaker` target against a real moto server, which plays both
/// SageMaker and S3 (it tells them apart by the signature's service).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SageMakerTests {
    func md5(_ text: String) -> String {
        Insecure.MD5.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// What moto recorded, with each header looked up case-insensitively.
    struct Recorded: Decodable {
        var method: String
        var url: String
        var headers: [String: String]
        var body: String?

        func header(_ name: String) -> String? { headers.first { $0.key.lowercased() == name.lowercased() }?.value }
        var action: String? { header("X-Amz-Target").map { String($0.dropFirst("SageMaker.".count)) } }
    }

    func recording(_ moto: MotoServer) async throws -> [Recorded] {
        let response = try await HTTPClient.shared.send(HTTPRequest(url: moto.endpoint + "/moto-api/recorder/download-recording"))
        // Before the first recorded request there is no recording at all.
        return try response.text.split(separator: "\n").filter { $0.hasPrefix("{") }
            .map { try JSONDecoder().decode(Recorded.self, from: Data($0.utf8)) }
    }

    func describe(_ driver: SageMakerTarget, _ action: String, _ name: ByName) async throws -> [String: Any] {
        try SageMakerProject.object(try await driver.api.send(action, name, idempotent: true))
    }

    func isMissing(_ driver: SageMakerTarget, _ action: String, _ name: ByName) async -> Bool {
        do {
            _ = try await driver.api.send(action, name, idempotent: true)
            return false
        } catch let error as SageMakerError {
            return error.isNotFound
        } catch {
            return false
        }
    }

    @Test func aTrainingJobIsCreatedOnceAndASecondTrainOfTheSameLineageAdoptsIt() async throws {
        try await MotoServer.with { moto in
            try await moto.put("data")
            try await moto.put("data/events/day-1.csv", "user,clicks\n1,3\n")
            try await moto.put("models")
            let files = moto.credentialFiles()
            let harness = try await SageMakerProject.make(
                endpoint: moto.endpoint, credentials: files, cloudModel: true,
                datasets: SageMakerProject.s3Dataset(endpoint: moto.endpoint, credentials: files))
            let request = try await SageMakerProject.trainingRequest(harness, model: "cloud")
            let driver = try SageMakerProject.driver(harness)
            let job = SageMakerNames.trainingJob(model: "cloud", digest: request.lineage.digest)
            #expect(job == "gantry-cloud-" + request.lineage.digest.dropFirst("sha256:".count).prefix(12))
            try await moto.startRecording()

            // moto completes the job without writing its artifact: nothing
            // that could be deployed, so no version either.
            let key = "gantry/cloud/\(job)/output/model.tar.gz"
            let recorder = LaunchRecorder("train:cloud")
            let missing = await #expect(throws: DriverError.self) { try await driver.train(request, launch: recorder.launch) }
            #expect(
                missing?.message == "training job \(job) completed, but its model artifact is not in S3: no object \(key) in bucket models (s3://models/\(key))"
            )
            #expect(recorder.detail?.contains(job) == true, "the launch names the job before the driver waits for it")

            // Once the artifact is in the bucket, the completed job is
            // adopted and the artifact's ETag identifies it.
            try await moto.put("models/\(key)", "weights")
            let first = try await driver.train(request, launch: .untracked("train:cloud:\(request.lineage.digest)"))
            #expect(first.artifactPath == "s3://models/\(key)")
            #expect(first.artifactDigest == "s3etag:" + md5("weights"))
            #expect(first.metrics == ["train:progress": 100])
            #expect(first.steps == ["training job \(job) adopted, Completed"])

            let second = try await driver.train(request, launch: .untracked("train:cloud:\(request.lineage.digest)"))
            #expect(second.steps == ["training job \(job) adopted, Completed"])
            #expect(second.artifactPath == first.artifactPath)
            let actions = try await recording(moto).compactMap(\.action)
            #expect(actions.filter { $0 == "CreateTrainingJob" }.count == 1, "\(actions)")
            #expect(
                actions == ["DescribeTrainingJob", "CreateTrainingJob", "DescribeTrainingJob"]
                    + Array(repeating: "DescribeTrainingJob", count: 4))
            for call in try await recording(moto) where call.action != nil {
                #expect(call.header("Authorization")?.contains("Credential=\(MotoServer.accessKey)/") == true)
                #expect(call.header("Authorization")?.contains("/us-east-1/sagemaker/aws4_request") == true)
                #expect(call.header("Content-Type") == "application/x-amz-json-1.1")
            }

            let created = try await describe(driver, "DescribeTrainingJob", .trainingJob(job))
            #expect(created["HyperParameters"] as? [String: String] == ["epochs": "3", "rate": "0.1"])
            #expect(created["RoleArn"] as? String == SageMakerProject.roleArn)
            #expect((created["AlgorithmSpecification"] as? [String: Any])?["TrainingImage"] as? String == SageMakerProject.trainImage)
            #expect((created["OutputDataConfig"] as? [String: Any])?["S3OutputPath"] as? String == "s3://models/gantry/cloud/")
            #expect((created["ResourceConfig"] as? [String: Any])?["InstanceType"] as? String == "ml.m5.xlarge")
            #expect((created["StoppingCondition"] as? [String: Any])?["MaxRuntimeInSeconds"] as? Int == 120)
            let channel = try #require((created["InputDataConfig"] as? [[String: Any]])?.first)
            #expect(channel["ChannelName"] as? String == "events")
            let source = (channel["DataSource"] as? [String: Any])?["S3DataSource"] as? [String: Any]
            #expect(source?["S3Uri"] as? String == "s3://data/events/")
        }
    }

    @Test func aDatasetOutsideS3IsAValidationErrorAndNothingReachesSageMaker() async throws {
        try await MotoServer.with { moto in
            let files = moto.credentialFiles()
            let local = """
                apiVersion: gantry.dev/v1alpha1
                kind: Dataset
                metadata: { name: events }
                spec:
                  source: { path: data/rows.csv }
                """
            let harness = try await SageMakerProject.make(endpoint: moto.endpoint, credentials: files, cloudModel: true, datasets: local)
            try await moto.startRecording()
            let (plan, report) = try await harness.apply()
            #expect(report.result == .invalid)
            #expect(plan.actions.isEmpty)
            #expect(
                plan.diagnostics.map(\.description).contains {
                    $0.contains(
                        ": error: spec.datasets[0]: dataset \"events\" is read from a path; a sagemaker training job (target aws) reads its datasets from S3 (spec.source.s3)"
                    )
                }, "\(plan.diagnostics)")
            #expect(try await recording(moto).isEmpty)
        }
    }

    @Test func aLocallyTrainedVersionIsUploadedOnceServedDriftsWhenChangedByHandAndIsRemovedWithItsConfigAndModel() async throws {
        try await MotoServer.with { moto in
            try await moto.put("models")
            let harness = try await SageMakerProject.make(endpoint: moto.endpoint, credentials: moto.credentialFiles(), cloudDeployment: 1)
            let driver = try SageMakerProject.driver(harness)
            try await moto.startRecording()

            let (plan, report) = try await harness.apply()
            #expect(plan.actions.map(\.kind) == [.train, .deploy])
            #expect(report.ok, "\(report.failed.map(\.error))")
            let version = try #require(try harness.store.version("demo", 1))
            #expect(version.artifactPath.hasPrefix("/"), "trained on the local target")
            let record = try #require(try harness.store.deployment("demo-cloud"))
            let handles = try #require(SageMakerTarget.handles(record))
            let key = "gantry/artifacts/\(SageMakerNames.hex(version.artifactDigest))/model.json"
            #expect(handles.modelData == "s3://models/\(key)")
            #expect(handles.endpoint == "demo-cloud")
            #expect(handles.endpointConfig.hasPrefix("gantry-demo-cloud-v1-") && handles.model == handles.endpointConfig)
            #expect(record.target == "aws" && record.version == 1)
            #expect(record.address == "arn:aws:sagemaker:us-east-1:123456789012:endpoint/demo-cloud")

            let uploaded = try await HTTPClient.shared.send(
                HTTPRequest(
                    url: moto.url("models/\(key)"), headers: [("x-amz-content-sha256", Digest.sha256([UInt8]()))], auth: moto.auth))
            #expect(uploaded.body == Array(try #require(FileManager.default.contents(atPath: version.artifactPath))))
            let model = try await describe(driver, "DescribeModel", .model(handles.model))
            let container = model["PrimaryContainer"] as? [String: Any]
            #expect(container?["Image"] as? String == SageMakerProject.serveImage)
            #expect(container?["ModelDataUrl"] as? String == handles.modelData)
            #expect(model["ExecutionRoleArn"] as? String == SageMakerProject.roleArn)
            let config = try await describe(driver, "DescribeEndpointConfig", .endpointConfig(handles.endpointConfig))
            let variant = (config["ProductionVariants"] as? [[String: Any]])?.first
            #expect(variant?["InitialInstanceCount"] as? Int == 2)
            #expect(variant?["InstanceType"] as? String == "ml.m5.xlarge")
            #expect(variant?["ModelName"] as? String == handles.model)

            // In sync: observed healthy, nothing to do.
            let seen = await driver.observe(record, spec: nil)
            #expect(seen.serving && seen.forwarding && seen.healthy == true, "\(seen.detail)")
            #expect(try await harness.plan().actions.isEmpty)

            // A repeated deploy finds the artifact in the bucket.
            let revision = try harness.source.fetch()
            _ = try await driver.deploy(
                DeployRequest(
                    deployment: try #require(revision.manifests.deployments["demo-cloud"]),
                    version: version, revision: revision, current: record,
                    specDigest: record.specDigest), launch: .untracked("deploy"))
            let s3 = try await recording(moto).filter { $0.action == nil && $0.url.contains("/gantry/artifacts/") && $0.method != "GET" }
            #expect(s3.map(\.method) == ["HEAD", "PUT", "HEAD"], "uploaded once")

            // Someone points the endpoint at another config by hand.
            try await driver.api.perform(
                "CreateEndpointConfig",
                CreateEndpointConfig(
                    EndpointConfigName: "by-hand", ProductionVariants: [.init(ModelName: handles.model, InstanceType: "ml.m5.large", InitialInstanceCount: 1)]),
                idempotent: true)
            try await driver.api.perform("DeleteEndpoint", ByName.endpoint("demo-cloud"), idempotent: true)
            try await driver.api.perform(
                "CreateEndpoint", EndpointAndConfig(EndpointName: "demo-cloud", EndpointConfigName: "by-hand"),
                idempotent: true)
            let drifted = await driver.observe(record, spec: nil)
            #expect(drifted.serving && !drifted.forwarding)
            #expect(drifted.detail == "endpoint demo-cloud uses by-hand, not \(handles.endpointConfig) (changed outside Gantry)")
            let repair = try await harness.plan().actions
            #expect(repair.map(\.kind) == [.deploy] && repair.first?.reason.contains("(drift)") == true, "\(repair.map(\.reason))")

            // Removed from Git: the endpoint, its config and its model go.
            harness.project.remove("manifests/cloud-deployment.yaml")
            try await harness.project.commit("Stop serving on SageMaker")
            let (prune, pruned) = try await harness.apply()
            #expect(prune.actions.map(\.kind) == [.prune])
            #expect(pruned.ok, "\(pruned.failed.map(\.error))")
            #expect(try harness.store.deployment("demo-cloud") == nil)
            #expect(await isMissing(driver, "DescribeEndpoint", .endpoint("demo-cloud")))
            #expect(await isMissing(driver, "DescribeEndpointConfig", .endpointConfig(handles.endpointConfig)))
            #expect(await isMissing(driver, "DescribeModel", .model(handles.model)))
            let gone = await driver.observe(record, spec: nil)
            #expect(!gone.serving && gone.detail == "endpoint demo-cloud does not exist")
        }
    }

    @Test func anUpdateThePeerDoesNotImplementSaysWhichActionAndLeavesOnlyThePairInUse() async throws {
        try await MotoServer.with { moto in
            try await moto.put("models")
            let harness = try await SageMakerProject.make(endpoint: moto.endpoint, credentials: moto.credentialFiles(), cloudDeployment: 1)
            let driver = try SageMakerProject.driver(harness)
            let (_, first) = try await harness.apply()
            #expect(first.ok, "\(first.failed.map(\.error))")
            let record = try #require(try harness.store.deployment("demo-cloud"))
            let inUse = try #require(SageMakerTarget.handles(record))

            // Another health timeout is another serve spec, so another model
            // and config; moto has no UpdateEndpoint to switch the endpoint.
            harness.project.write("manifests/cloud-deployment.yaml", SageMakerProject.deployment(version: 1, healthTimeout: "30s"))
            try await harness.project.commit("Wait longer for the endpoint")
            let (plan, second) = try await harness.apply()
            #expect(plan.actions.map(\.kind) == [.deploy])
            let error = try #require(second.failed.first?.error)
            #expect(
                error.hasSuffix(
                    "SageMaker UpdateEndpoint: the API at \(moto.endpoint) answered HTTP 500 with an HTML error page, "
                        + "not a SageMaker error: it does not implement UpdateEndpoint (moto, for one, lacks UpdateEndpoint and StopTrainingJob)"), "\(error)")

            func names(_ action: String, _ list: String, _ field: String) async throws -> [String] {
                let answer = try SageMakerProject.object(try await driver.api.send(action, [String: String](), idempotent: true))
                return ((answer[list] as? [[String: Any]]) ?? []).compactMap { $0[field] as? String }
            }
            #expect(try await names("ListModels", "Models", "ModelName") == [inUse.model], "the new model was deleted")
            #expect(
                try await names("ListEndpointConfigs", "EndpointConfigs", "EndpointConfigName") == [inUse.endpointConfig],
                "the new config was deleted")
            let kept = try #require(try harness.store.deployment("demo-cloud"))
            #expect(kept.specDigest == record.specDigest && kept.detail == record.detail, "the record still names what serves")
        }
    }
}
