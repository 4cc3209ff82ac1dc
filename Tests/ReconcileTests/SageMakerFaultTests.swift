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

/// The `sagemaker` target against a FaultServer playing SageMaker, for what
/// moto does not do: UpdateEndpoint, StopTrainingJob, errors and hangs.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SageMakerFaultTests {
    static let secret = "fault-secret/value+with=symbols"
    let files = SageMakerProject.credentialFiles(secret: SageMakerFaultTests.secret)

    func version(_ number: Int) -> VersionRecord {
        VersionRecord(
            model: "demo", number: number, digest: "sha256:\(number)", lineage: "{}", metrics: "{}",
            artifactPath: "s3://models/demo/v\(number)/model.tar.gz", artifactDigest: "s3etag:v\(number)",
            commit: "c\(number)", gatesPassed: true, gateReport: "", createdAt: Date())
    }

    func record(version: Int, config: String) -> DeploymentRecord {
        let handles = SageMakerTarget.Handles(
            endpoint: "demo-cloud", endpointConfig: config, model: config,
            modelData: "s3://models/demo/v\(version)/model.tar.gz")
        return DeploymentRecord(
            name: "demo-cloud", model: "demo", version: version, target: "aws", address: "demo-cloud",
            specDigest: "sha256:spec", commit: "c",
            updatedAt: Date(), detail: Digest.canonicalJSON(handles))
    }

    func deployRequest(_ harness: Harness, version: Int, current: DeploymentRecord?) throws -> DeployRequest {
        let revision = try harness.source.fetch()
        let deployment = try #require(revision.manifests.deployments["demo-cloud"])
        return DeployRequest(
            deployment: deployment, version: self.version(version), revision: revision, current: current,
            specDigest: Planner.specDigest(deployment.spec))
    }

    @Test func aVersionBumpUpdatesTheEndpointToANewConfigAndThenDeletesTheOldPair() async throws {
        let old = "gantry-demo-cloud-v1-0badc0de"
        let script = SageMakerScript { action, call, script in
            switch action {
            case "DescribeEndpoint":
                // Before the update, then while it runs, then after.
                let new = script.sent("UpdateEndpoint").first?["EndpointConfigName"] as? String ?? "?"
                return call == 0
                    ? SageMakerScript.endpoint("InService", config: old)
                    : call == 1
                        ? SageMakerScript.endpoint("Updating", config: old)
                        : SageMakerScript.endpoint("InService", config: new)
            case "UpdateEndpoint": return .json(#"{"EndpointArn":"arn:aws:sagemaker:us-east-1:123456789012:endpoint/demo-cloud"}"#)
            default: return .json("{}")
            }
        }
        let server = try FaultServer(script.respond)
        let harness = try await SageMakerProject.make(endpoint: server.endpoint, credentials: files, cloudDeployment: 2)
        let driver = try SageMakerProject.driver(harness)

        let current = record(version: 1, config: old)
        let deployed = try await driver.deploy(try deployRequest(harness, version: 2, current: current), launch: .untracked("deploy"))
        let beforeRetire = SageMakerScript.actions(server.requests)
        #expect(!beforeRetire.contains("DeleteModel"), "the old pair stays until the new record is kept")
        // What the reconciler does once it has kept the new record.
        await driver.retire(current, replacedBy: deployed)

        #expect(
            SageMakerScript.actions(server.requests) == [
                "CreateModel", "CreateEndpointConfig", "DescribeEndpoint", "UpdateEndpoint", "DescribeEndpoint", "DescribeEndpoint",
                "DeleteEndpointConfig", "DeleteModel",
            ])
        let new = try #require(script.sent("CreateEndpointConfig").first?["EndpointConfigName"] as? String)
        #expect(new.hasPrefix("gantry-demo-cloud-v2-") && new.count <= 63)
        #expect(script.sent("UpdateEndpoint").first as? [String: String] == ["EndpointName": "demo-cloud", "EndpointConfigName": new])
        let model = try #require(script.sent("CreateModel").first)
        #expect(model["ModelName"] as? String == new)
        #expect(model["ExecutionRoleArn"] as? String == SageMakerProject.roleArn)
        #expect(
            model["PrimaryContainer"] as? [String: String] == [
                "Image": SageMakerProject.serveImage,
                "ModelDataUrl": "s3://models/demo/v2/model.tar.gz",
            ])
        let variant = (script.sent("CreateEndpointConfig").first?["ProductionVariants"] as? [[String: Any]])?.first
        #expect(variant?["InitialInstanceCount"] as? Int == 2 && variant?["ModelName"] as? String == new)
        #expect(script.sent("DeleteEndpointConfig").first as? [String: String] == ["EndpointConfigName": old])
        #expect(script.sent("DeleteModel").first as? [String: String] == ["ModelName": old])
        for request in server.requests {
            #expect(request.method == "POST" && request.path == "/")
            #expect(request.headers["content-type"] == "application/x-amz-json-1.1")
            #expect(request.headers["authorization"]?.hasPrefix("AWS4-HMAC-SHA256 Credential=\(MotoServer.accessKey)/") == true)
            #expect(request.headers["authorization"]?.contains("/us-east-1/sagemaker/aws4_request") == true)
        }
        #expect(deployed.version == 2 && SageMakerTarget.handles(deployed)?.endpointConfig == new)
        #expect(try harness.store.deployment("demo-cloud") == nil, "a driver returns its record; the reconciler keeps it")
    }

    @Test func anUpdateSageMakerRollsBackOrAFailedEndpointFailsTheDeployWithSageMakersReason() async throws {
        let old = "gantry-demo-cloud-v1-0badc0de"
        let rolledBack = try FaultServer(
            SageMakerScript { action, call, _ in
                switch action {
                case "DescribeEndpoint":
                    return call == 0
                        ? SageMakerScript.endpoint("InService", config: old)
                        : SageMakerScript.endpoint("InService", config: old, failure: "image pull failed for serve:1")
                default: return .json("{}")
                }
            }.respond)
        let harness = try await SageMakerProject.make(endpoint: rolledBack.endpoint, credentials: files, cloudDeployment: 2)
        let error = await #expect(throws: DriverError.self) {
            try await SageMakerProject.driver(harness).deploy(
                try deployRequest(harness, version: 2, current: record(version: 1, config: old)), launch: .untracked("deploy"))
        }
        #expect(error?.message == "endpoint demo-cloud rolled back to \(old): image pull failed for serve:1")
        #expect(try harness.store.deployment("demo-cloud") == nil, "a failed deploy records nothing")
        // ...and leaves nothing behind that no record names: the endpoint
        // kept the old pair, so the new one is deleted.
        let made = try #require(
            SageMakerScript.actions(rolledBack.requests).isEmpty
                ? nil
                : rolledBack.requests.first {
                    $0.headers["x-amz-target"] == "SageMaker.CreateModel"
                })
        let newPair = try #require((try JSONSerialization.jsonObject(with: Data(made.body)) as? [String: Any])?["ModelName"] as? String)
        #expect(SageMakerScript.actions(rolledBack.requests).suffix(3) == ["DescribeEndpoint", "DeleteEndpointConfig", "DeleteModel"])
        for deleted in rolledBack.requests where ["SageMaker.DeleteEndpointConfig", "SageMaker.DeleteModel"].contains(deleted.headers["x-amz-target"] ?? "") {
            #expect(String(decoding: deleted.body, as: UTF8.self).contains(newPair))
        }

        let failed = try FaultServer(
            SageMakerScript { action, call, script in
                switch action {
                case "DescribeEndpoint":
                    let config = script.sent("CreateEndpoint").first?["EndpointConfigName"] as? String ?? "?"
                    return call == 0 ? SageMakerScript.notFound : SageMakerScript.endpoint("Failed", config: config, failure: "capacity")
                default: return .json("{}")
                }
            }.respond)
        let second = try await SageMakerProject.make(endpoint: failed.endpoint, credentials: files, cloudDeployment: 2)
        let failure = await #expect(throws: DriverError.self) {
            try await SageMakerProject.driver(second).deploy(try deployRequest(second, version: 2, current: nil), launch: .untracked("deploy"))
        }
        #expect(failure?.message == "endpoint demo-cloud is Failed: capacity")
        #expect(
            SageMakerScript.actions(failed.requests) == [
                "CreateModel", "CreateEndpointConfig", "DescribeEndpoint", "CreateEndpoint", "DescribeEndpoint",
                "DescribeEndpoint",
            ], "the failed endpoint uses the new pair, which is kept for the next try")
    }

    @Test func aFailedEndpointIsReplacedSinceSageMakerCannotUpdateIt() async throws {
        let script = SageMakerScript { action, call, script in
            switch action {
            case "DescribeEndpoint":
                let config = script.sent("CreateEndpoint").first?["EndpointConfigName"] as? String ?? "?"
                return call == 0
                    ? SageMakerScript.endpoint("Failed", config: "gantry-demo-cloud-v1-0badc0de", failure: "capacity")
                    : call == 1
                        ? SageMakerScript.notFound
                        : SageMakerScript.endpoint("InService", config: config)
            default: return .json("{}")
            }
        }
        let server = try FaultServer(script.respond)
        let harness = try await SageMakerProject.make(endpoint: server.endpoint, credentials: files, cloudDeployment: 2)
        let deployed = try await SageMakerProject.driver(harness).deploy(try deployRequest(harness, version: 2, current: nil), launch: .untracked("deploy"))
        #expect(
            SageMakerScript.actions(server.requests) == [
                "CreateModel", "CreateEndpointConfig", "DescribeEndpoint", "DeleteEndpoint", "DescribeEndpoint", "CreateEndpoint",
                "DescribeEndpoint",
            ])
        #expect(SageMakerTarget.handles(deployed)?.endpointConfig == script.sent("CreateEndpoint").first?["EndpointConfigName"] as? String)
    }

    @Test func anEndpointNotInServiceWithinTheHealthCheckTimeoutFailsTheDeploy() async throws {
        let old = "gantry-demo-cloud-v1-0badc0de"
        let server = try FaultServer(
            SageMakerScript { action, call, _ in
                action == "DescribeEndpoint" ? SageMakerScript.endpoint(call == 0 ? "InService" : "Updating", config: old) : .json("{}")
            }.respond)
        let harness = try await SageMakerProject.make(endpoint: server.endpoint, credentials: files)
        harness.project.write("manifests/cloud-deployment.yaml", SageMakerProject.deployment(version: 2, healthTimeout: "1s"))
        try await harness.project.commit("Impatient")
        let error = await #expect(throws: DriverError.self) {
            try await SageMakerProject.driver(harness).deploy(
                try deployRequest(harness, version: 2, current: record(version: 1, config: old)), launch: .untracked("deploy"))
        }
        let config = try #require(
            SageMakerScript.actions(server.requests).contains("UpdateEndpoint")
                ? server.requests.first {
                    $0.headers["x-amz-target"] == "SageMaker.UpdateEndpoint"
                } : nil)
        let new = try #require((try JSONSerialization.jsonObject(with: Data(config.body)) as? [String: String])?["EndpointConfigName"])
        #expect(error?.message == "endpoint demo-cloud was not InService with \(new) within 1s (last: Updating with \(old))")
        #expect(!SageMakerScript.actions(server.requests).contains("DeleteModel"), "an update under way may be moving to the new pair: kept")
    }

    @Test func anArtifactThatCannotReachS3OrASecretInTheContainerEnvironmentFailsTheDeployBeforeSageMakerIsCalled() async throws {
        let server = try FaultServer { request in
            request.method == "HEAD" ? .status(404) : .status(403, "<Error><Code>AccessDenied</Code><Message>denied</Message></Error>")
        }
        let harness = try await SageMakerProject.make(endpoint: server.endpoint, credentials: files, cloudDeployment: 1)
        let driver = try SageMakerProject.driver(harness)
        let directory = makeTemporaryDirectory("artifact")
        try "weights".write(toFile: directory + "/model.bin", atomically: true, encoding: .utf8)
        var failures: [String] = []
        for path in [directory + "/model.bin", directory, directory + "/missing.bin"] {
            var local = version(1)
            local.artifactPath = path
            local.artifactDigest = "sha256:abc123"
            let request = DeployRequest(
                deployment: try deployRequest(harness, version: 1, current: nil).deployment, version: local,
                revision: try harness.source.fetch(), current: nil, specDigest: "sha256:spec")
            let error = await #expect(throws: DriverError.self) { try await driver.deploy(request, launch: .untracked("deploy")) }
            failures.append(error?.message ?? "")
        }
        #expect(
            failures == [
                "uploading the artifact of demo@v1 to s3://models/gantry/artifacts/abc123/model.bin: PUT gantry/artifacts/abc123/model.bin: the store answered HTTP 403 AccessDenied: denied",
                "the artifact of demo@v1 is a directory (\(directory)); SageMaker loads one file, such as a model.tar.gz",
                "the artifact of demo@v1 (\(directory)/missing.bin) is not on this machine to upload",
            ])

        harness.project.write("manifests/cloud-deployment.yaml", SageMakerProject.deployment(version: 1, env: "{ API_TOKEN: { secret: { env: API_TOKEN } } }"))
        try await harness.project.commit("A secret for the container")
        let secret = await #expect(throws: DriverError.self) {
            try await driver.deploy(try deployRequest(harness, version: 1, current: nil), launch: .untracked("deploy"))
        }
        #expect(secret?.message.hasPrefix("deployment demo-cloud: spec.serve.env holds a secret reference") == true)
        #expect(SageMakerScript.actions(server.requests).isEmpty, "SageMaker was never called")
    }

    @Test func thePlanWarnsBeforeTrainingWhenTheDeployCouldNotSucceed() async throws {
        // Credentials that cannot be read: the deploy would fail after the
        // training, so the plan says so before anything runs.
        let missing = makeTemporaryDirectory("no-credentials")
        let unusable = try await SageMakerProject.make(
            endpoint: "http://127.0.0.1:9", credentials: (missing + "/id", missing + "/secret"),
            cloudDeployment: 1)
        let plan = try await unusable.plan()
        #expect(plan.actions.map(\.kind) == [.train, .deploy])
        #expect(
            plan.warnings == [
                "Deployment/demo-cloud: deploy on target aws will fail: target aws: credentials.accessKeyId (file:\(missing)/id): cannot read secret file \(missing)/id"
            ])

        // A version whose artifact is a directory cannot be an endpoint's
        // model data.
        let server = try FaultServer { _ in .json("{}") }
        let harness = try await SageMakerProject.make(endpoint: server.endpoint, credentials: files, cloudDeployment: 1)
        let directory = makeTemporaryDirectory("artifact")
        _ = try harness.store.registerVersion { number in
            var v = self.version(number)
            v.artifactPath = directory
            return v
        }
        let deploy = try await harness.plan()
        #expect(deploy.actions.contains { $0.kind == .deploy && $0.version == 1 })
        #expect(
            deploy.warnings.contains(
                "Deployment/demo-cloud: deploy on sagemaker target aws will fail: the artifact of demo@v1 is a directory (\(directory)); SageMaker loads one file, such as a model.tar.gz"
            ),
            "\(deploy.warnings)")
        #expect(server.requests.isEmpty, "planning calls nothing")
    }

    @Test func aCompletedJobWithoutArtifactsOrALineageWhoseJobsAllFailedIsReported() async throws {
        let server = try FaultServer(
            SageMakerScript { _, call, _ in
                call < 2 ? .json(#"{"TrainingJobStatus":"Completed"}"#) : .json(#"{"TrainingJobStatus":"Stopped"}"#)
            }.respond)
        let harness = try await SageMakerProject.make(endpoint: server.endpoint, credentials: files, cloudModel: true)
        let request = try await SageMakerProject.trainingRequest(harness, model: "cloud")
        let driver = try SageMakerProject.driver(harness)
        let job = SageMakerNames.trainingJob(model: "cloud", digest: request.lineage.digest)
        let empty = await #expect(throws: DriverError.self) { try await driver.train(request, launch: .untracked("k")) }
        #expect(empty?.message == "training job \(job) completed without ModelArtifacts.S3ModelArtifacts")

        let exhausted = await #expect(throws: DriverError.self) { try await driver.train(request, launch: .untracked("k")) }
        #expect(exhausted?.message.hasPrefix("20 training jobs of cloud for lineage sha256:") == true, "\(exhausted?.message ?? "")")
        #expect(SageMakerScript.actions(server.requests).count == 2 + SageMakerTarget.maximumAttempts)
        #expect(!SageMakerScript.actions(server.requests).contains("CreateTrainingJob"))
    }

    @Test func aTargetWithoutRoleOrBucketCannotTrainAndSaysWhichFieldIsMissing() async throws {
        let harness = try await SageMakerProject.make(endpoint: "http://127.0.0.1:1", credentials: files, cloudModel: true)
        let request = try await SageMakerProject.trainingRequest(harness, model: "cloud")
        var spec = try #require(try harness.source.fetch().manifests.targets["aws"]?.spec)
        spec.roleArn = nil
        let driver = try SageMakerTarget(DriverContext(name: "aws", spec: spec, workspace: harness.workspace, versions: harness.store))
        let error = await #expect(throws: DriverError.self) { try await driver.train(request, launch: .untracked("k")) }
        #expect(error?.message == "target aws: spec.roleArn is required to train on sagemaker")
    }

    @Test func aTrainingPastItsDeadlineIsStopped() async throws {
        let script = SageMakerScript { action, call, _ in
            switch action {
            case "DescribeTrainingJob":
                return call == 0
                    ? .json(#"{"__type":"ValidationException","message":"Requested resource not found."}"#, status: 400)
                    : .json(#"{"TrainingJobStatus":"InProgress","SecondaryStatus":"Training"}"#)
            case "CreateTrainingJob": return .json(#"{"TrainingJobArn":"arn:aws:sagemaker:us-east-1:123456789012:training-job/x"}"#)
            default: return .json("{}")
            }
        }
        let server = try FaultServer(script.respond)
        let harness = try await SageMakerProject.make(endpoint: server.endpoint, credentials: files, cloudModel: true, trainingTimeout: "1s")
        let request = try await SageMakerProject.trainingRequest(harness, model: "cloud")
        let job = SageMakerNames.trainingJob(model: "cloud", digest: request.lineage.digest)

        let error = await #expect(throws: DriverError.self) {
            try await SageMakerProject.driver(harness).train(request, launch: .untracked("train:cloud"))
        }
        #expect(error?.message == "training job \(job) ran past its deadline of 1s (InProgress); it was stopped")
        #expect(script.sent("StopTrainingJob").first as? [String: String] == ["TrainingJobName": job])
        #expect(SageMakerScript.actions(server.requests).last == "StopTrainingJob")
        let created = try #require(script.sent("CreateTrainingJob").first)
        #expect(created["TrainingJobName"] as? String == job)
        #expect((created["StoppingCondition"] as? [String: Int]) == ["MaxRuntimeInSeconds": 1])
        #expect(created["InputDataConfig"] == nil, "the model reads no dataset")
    }

    @Test func aFailedOrStoppedJobOfTheLineageIsFollowedByANewAttempt() async throws {
        let script = SageMakerScript { action, call, _ in
            switch action {
            case "DescribeTrainingJob":
                return call == 0
                    ? .json(#"{"TrainingJobStatus":"Failed","FailureReason":"AlgorithmError: out of memory"}"#)
                    : call == 1
                        ? .json(#"{"__type":"ValidationException","message":"Requested resource not found."}"#, status: 400)
                        : .json(#"{"TrainingJobStatus":"Failed","FailureReason":"AlgorithmError: out of memory"}"#)
            default: return .json("{}")
            }
        }
        let server = try FaultServer(script.respond)
        let harness = try await SageMakerProject.make(endpoint: server.endpoint, credentials: files, cloudModel: true)
        let request = try await SageMakerProject.trainingRequest(harness, model: "cloud")
        let retry = SageMakerNames.trainingJob(model: "cloud", digest: request.lineage.digest, attempt: 2)
        #expect(retry.hasSuffix("-r2"))

        let error = await #expect(throws: DriverError.self) {
            try await SageMakerProject.driver(harness).train(request, launch: .untracked("train:cloud"))
        }
        #expect(error?.message == "training job \(retry) failed: AlgorithmError: out of memory")
        #expect(script.sent("CreateTrainingJob").map { $0["TrainingJobName"] as? String } == [retry])
    }

    @Test func aSageMakerErrorOnOneDeploymentLeavesTheOtherDeploymentOfTheApplyUnaffected() async throws {
        let script = SageMakerScript { _, _, _ in
            .status(500, "InternalFailure: request signed with \(SageMakerFaultTests.secret) could not be served")
        }
        let server = try FaultServer(script.respond)
        let harness = try await SageMakerProject.make(endpoint: server.endpoint, credentials: files, cloudDeployment: 1, localDeployment: true)
        do {
            try await checkOnlyTheCloudDeploymentFails(harness, server)
        } catch {
            await harness.tearDown()
            throw error
        }
        await harness.tearDown()
    }

    func checkOnlyTheCloudDeploymentFails(_ harness: Harness, _ server: FaultServer) async throws {
        let (plan, report) = try await harness.apply()
        #expect(plan.actions.map(\.object) == ["Model/demo", "Deployment/demo-cloud", "Deployment/demo-prod"])
        #expect(report.succeeded.map(\.object) == ["Model/demo", "Deployment/demo-prod"])
        let failure = try #require(report.failed.first)
        #expect(failure.action.object == "Deployment/demo-cloud")
        #expect(failure.error.hasPrefix("SageMaker CreateModel: POST \(server.endpoint)/ answered 500: InternalFailure: request signed with ***"))
        #expect(!failure.error.contains(SageMakerFaultTests.secret))
        #expect(
            SageMakerScript.actions(server.requests) == Array(repeating: "CreateModel", count: RetryPolicy.standard.attempts),
            "an idempotent create is retried")
        #expect(server.requests.filter { $0.method == "PUT" }.count == 1, "the local artifact went to S3 first")
        #expect(try await harness.get("/").contains(#""version": "1""#), "the local deployment serves")
        #expect(try harness.store.deployment("demo-cloud") == nil)
    }

    @Test func aRefusedConnectionOrAHangIsRetriedAndThenReportedWithoutAnySecret() async throws {
        let closed = "http://127.0.0.1:\(freePort())"
        let harness = try await SageMakerProject.make(endpoint: closed, credentials: files, cloudModel: true)
        let request = try await SageMakerProject.trainingRequest(harness, model: "cloud")
        let quick = RetryPolicy(attempts: 3, initialDelay: .milliseconds(10), maxDelay: .milliseconds(20))
        let refused = await #expect(throws: DriverError.self) {
            try await SageMakerProject.driver(harness, retry: quick).train(request, launch: .untracked("k"))
        }
        #expect(refused?.message.hasPrefix("SageMaker DescribeTrainingJob: \(closed)/: POST ") == true, "\(refused?.message ?? "")")
        #expect(refused?.message.hasSuffix("(after 3 tries)") == true)
        let seen = try await SageMakerProject.driver(harness, retry: quick).observe(record(version: 1, config: "c"), spec: nil)
        #expect(!seen.serving && seen.healthy == nil && seen.detail.contains("(after 2 tries)"), "observing tries less: \(seen.detail)")

        let hanging = try FaultServer(SageMakerScript { _, _, _ in .hang(.seconds(2)) }.respond)
        let slow = try await SageMakerProject.make(endpoint: hanging.endpoint, credentials: files, cloudModel: true)
        let slowRequest = try await SageMakerProject.trainingRequest(slow, model: "cloud")
        let timedOut = await #expect(throws: DriverError.self) {
            try await SageMakerProject.driver(
                slow, retry: RetryPolicy(attempts: 2, initialDelay: .milliseconds(10)),
                timeout: .milliseconds(300)
            ).train(slowRequest, launch: .untracked("k"))
        }
        #expect(
            timedOut?.message.contains("Timeout was reached") == true && timedOut?.message.hasSuffix("(after 2 tries)") == true,
            "\(timedOut?.message ?? "")")
        #expect(SageMakerScript.actions(hanging.requests) == ["DescribeTrainingJob", "DescribeTrainingJob"])
        for message in [refused?.message, seen.detail, timedOut?.message] {
            #expect(message?.contains(SageMakerFaultTests.secret) == false)
        }
    }

    @Test func observingReportsAFailedEndpointAsUnhealthyAndAMissingOneAsNotServing() async throws {
        let server = try FaultServer(
            SageMakerScript { _, call, _ in
                switch call {
                case 0: SageMakerScript.endpoint("Failed", config: "c", failure: "health check failed")
                case 1: SageMakerScript.endpoint("Updating", config: "c")
                default: SageMakerScript.notFound
                }
            }.respond)
        let harness = try await SageMakerProject.make(endpoint: server.endpoint, credentials: files)
        let driver = try SageMakerProject.driver(harness)
        let failed = await driver.observe(record(version: 1, config: "c"), spec: nil)
        #expect(failed.serving && failed.forwarding && failed.healthy == false)
        #expect(failed.detail == "endpoint demo-cloud is Failed: health check failed")
        let updating = await driver.observe(record(version: 1, config: "c"), spec: nil)
        #expect(updating.serving && updating.forwarding && updating.healthy == nil)
        let missing = await driver.observe(record(version: 1, config: "c"), spec: nil)
        #expect(!missing.serving && missing.detail == "endpoint demo-cloud does not exist")
        var foreign = record(version: 1, config: "c")
        foreign.detail = ""
        let unknown = await driver.observe(foreign, spec: nil)
        #expect(!unknown.serving && unknown.detail == "the record names no SageMaker endpoint")
    }

    @Test func aCredentialThatCannotBeReadMakesTheTargetUnusableNamingTheReference() throws {
        var spec = TargetSpec(type: .sagemaker, endpoint: "http://127.0.0.1:1")
        spec.region = "us-east-1"
        spec.credentials = ["accessKeyId": SecretRef(env: "GANTRY_TEST_UNSET_KEY_ID"), "secretAccessKey": SecretRef(file: files.secretAccessKey)]
        let state = makeTemporaryDirectory("sagemaker-state")
        let error = #expect(throws: DriverError.self) {
            try Drivers.make(DriverContext(name: "aws", spec: spec, workspace: Workspace(root: state), versions: try StateStore(directory: state)))
        }
        #expect(
            error?.message == "target aws: credentials.accessKeyId (env:GANTRY_TEST_UNSET_KEY_ID): environment variable GANTRY_TEST_UNSET_KEY_ID is not set")
        spec.credentials = ["accessKeyId": SecretRef(file: files.accessKeyId)]
        let half = #expect(throws: DriverError.self) {
            try Drivers.make(DriverContext(name: "aws", spec: spec, workspace: Workspace(root: state), versions: try StateStore(directory: state)))
        }
        #expect(half?.message == "target aws: spec.credentials needs both accessKeyId and secretAccessKey")
    }
}
