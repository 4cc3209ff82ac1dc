import Foundation
import GantryTestSupport
import HTTP
import Manifests
import Synchronization
import Testing

@testable import Lineage
@testable import Reconciler
@testable import State
@testable import Targets

/// Canaries on a SageMaker endpoint by production-variant weights. moto
/// keeps weights (UpdateEndpointWeightsAndCapacities) but has no
/// UpdateEndpoint, which moves an endpoint to the canary's config and back;
/// so the whole rollout runs against `SimulatedSageMaker` below, and the
/// weight call against moto.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SageMakerCanaryTests {
    let files = SageMakerProject.credentialFiles(secret: "canary-secret")

    /// One endpoint, its configs and models, kept as SageMaker would keep
    /// them: an update moves the endpoint to a config, whose variants start
    /// at their initial weights; a weight update changes them in place.
    final class SimulatedSageMaker: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var configs: [String: [[String: Any]]] = [:]
        private(set) var models: Set<String> = []
        private(set) var endpointConfig: String?
        private(set) var weights: [String: Double] = [:]
        lazy var script = SageMakerScript { [unowned self] action, _, script in
            self.handle(action, script.sent(action).last ?? [:])
        }

        func snapshot() -> (config: String?, weights: [String: Double], configs: Set<String>, models: Set<String>) {
            lock.lock()
            defer { lock.unlock() }
            return (endpointConfig, weights, Set(configs.keys), models)
        }

        func handle(_ action: String, _ body: [String: Any]) -> FaultServer.Response {
            lock.lock()
            defer { lock.unlock() }
            switch action {
            case "CreateModel":
                models.insert(body["ModelName"] as? String ?? "?")
            case "CreateEndpointConfig":
                configs[body["EndpointConfigName"] as? String ?? "?"] = body["ProductionVariants"] as? [[String: Any]] ?? []
            case "CreateEndpoint", "UpdateEndpoint":
                let name = body["EndpointConfigName"] as? String ?? "?"
                guard let variants = configs[name] else { return SageMakerScript.notFound }
                endpointConfig = name
                weights = Dictionary(
                    variants.map { ($0["VariantName"] as? String ?? "?", $0["InitialVariantWeight"] as? Double ?? 1) }, uniquingKeysWith: { a, _ in a })
            case "UpdateEndpointWeightsAndCapacities":
                for desired in body["DesiredWeightsAndCapacities"] as? [[String: Any]] ?? [] {
                    let variant = desired["VariantName"] as? String ?? "?"
                    guard weights[variant] != nil else {
                        return .json(#"{"__type":"ValidationException","message":"The variant name(s) is/are not present"}"#, status: 400)
                    }
                    weights[variant] = desired["DesiredWeight"] as? Double
                }
            case "DescribeEndpoint":
                guard let endpointConfig else { return SageMakerScript.notFound }
                let object: [String: Any] = [
                    "EndpointName": "demo-cloud", "EndpointStatus": "InService", "EndpointConfigName": endpointConfig,
                    "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/demo-cloud",
                    "ProductionVariants": weights.map { ["VariantName": $0.key, "CurrentWeight": $0.value, "CurrentInstanceCount": 2] },
                ]
                return .json(String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self))
            case "DeleteEndpointConfig":
                let name = body["EndpointConfigName"] as? String ?? "?"
                guard name != endpointConfig else {
                    return .json(#"{"__type":"ValidationException","message":"The config is in use"}"#, status: 400)
                }
                guard configs.removeValue(forKey: name) != nil else { return SageMakerScript.notFound }
            case "DeleteModel":
                guard models.remove(body["ModelName"] as? String ?? "?") != nil else { return SageMakerScript.notFound }
            default:
                break
            }
            return .json("{}")
        }
    }

    /// demo-cloud on `aws` by canary, judged by `command`.
    func deployment(version: Int, command: String) -> String {
        SageMakerProject.deployment(version: version) + """

              strategy: { type: canary, steps: [25, 100], pause: 100ms, analysis: { command: \(command) } }
              autoRollback: true
            """
    }

    /// v1 served, then v2 trained and pinned, judged by `command`.
    func servingV1(_ sagemaker: SimulatedSageMaker, server: FaultServer, command: String) async throws -> Harness {
        let harness = try await SageMakerProject.make(endpoint: server.endpoint, credentials: files)
        let project = harness.project
        project.write("manifests/cloud-deployment.yaml", deployment(version: 1, command: command))
        try await project.commit("Serve demo-cloud by canary")
        let (_, first) = try await harness.apply()
        #expect(first.result == .applied, "\(first.failed)")
        #expect(sagemaker.snapshot().weights == ["primary": 1], "a first deploy goes at once")
        try project.setQuality("0.95")
        project.write("manifests/cloud-deployment.yaml", deployment(version: 2, command: command))
        try await project.commit("Train and pin v2")
        return harness
    }

    func weightsSent(_ sagemaker: SimulatedSageMaker) -> [[String: Double]] {
        sagemaker.script.sent("UpdateEndpointWeightsAndCapacities").map { body in
            Dictionary(
                (body["DesiredWeightsAndCapacities"] as? [[String: Any]] ?? []).map {
                    ($0["VariantName"] as? String ?? "?", $0["DesiredWeight"] as? Double ?? -1)
                }, uniquingKeysWith: { a, _ in a })
        }
    }

    @Test func aCanaryMovesTheVariantWeightsStepByStepThenTheEndpointToTheNewVersionsConfig() async throws {
        let sagemaker = SimulatedSageMaker()
        let server = try FaultServer(sagemaker.script.respond)
        let harness = try await servingV1(sagemaker, server: server, command: #"[python3, -c, "print('v${version} at ${percent}%')"]"#)
        defer { Task { await harness.tearDown() } }
        let v1 = try #require(sagemaker.snapshot().config)

        let (_, report) = try await harness.apply()
        #expect(report.result == .applied, "\(report.failed)")
        #expect(weightsSent(sagemaker) == [["stable": 75, "canary": 25], ["stable": 0, "canary": 100]])
        let updates = sagemaker.script.sent("UpdateEndpoint").compactMap { $0["EndpointConfigName"] as? String }
        #expect(updates.count == 2, "to the split config, then to v2's own: \(updates)")
        let split = try #require(sagemaker.script.sent("CreateEndpointConfig").last)
        let variants = (split["ProductionVariants"] as? [[String: Any]] ?? []).map {
            "\($0["VariantName"] as? String ?? "?") \($0["ModelName"] as? String ?? "?") \($0["InitialVariantWeight"] as? Double ?? -1)"
        }
        #expect(variants == ["stable \(v1) 1.0", "canary \(updates[1]) 0.0"])
        #expect(updates.first == split["EndpointConfigName"] as? String)

        let now = sagemaker.snapshot()
        #expect(now.config == updates[1] && now.weights == ["primary": 1], "v2's own config, one variant")
        #expect(now.configs == [updates[1]] && now.models == [updates[1]], "the split config and v1's pair are gone")
        let record = try #require(try harness.store.deployment("demo-cloud"))
        #expect(record.version == 2 && SageMakerTarget.handles(record)?.endpointConfig == updates[1])
        #expect(try harness.reconciler.journal.open().isEmpty)
    }

    @Test func aFailedStepPutsTheEndpointBackOnTheOldConfigAndHoldsTheVersion() async throws {
        let sagemaker = SimulatedSageMaker()
        let server = try FaultServer(sagemaker.script.respond)
        let harness = try await servingV1(
            sagemaker, server: server, command: #"[python3, -c, "raise SystemExit('v${version} at ${percent}% answers badly')"]"#)
        defer { Task { await harness.tearDown() } }
        let v1 = try #require(sagemaker.snapshot().config)

        let (_, report) = try await harness.apply()
        let error = try #require(report.failed.first?.error)
        #expect(error.hasPrefix("canary step 1 of 2 (25% to v2): analysis command "), "\(error)")
        #expect(error.contains("v2 at 25% answers badly"), "\(error)")
        #expect(weightsSent(sagemaker) == [["stable": 75, "canary": 25]])
        let now = sagemaker.snapshot()
        #expect(now.config == v1 && now.weights == ["primary": 1], "every request back on v1")
        #expect(now.configs == [v1] && now.models == [v1], "the split config and v2's pair are deleted")
        #expect(try harness.store.deployment("demo-cloud")?.version == 1)
        #expect(try harness.store.hold("demo-cloud")?.version == 2)

        // Held: the next reconcile does not try v2 again.
        let calls = server.requests.count
        let (_, again) = try await harness.apply()
        #expect(again.failed.isEmpty, "\(again.failed)")
        #expect(!SageMakerScript.actions(Array(server.requests.dropFirst(calls))).contains("UpdateEndpoint"))
    }

    /// What a controller killed mid-canary leaves, cleaned up at restart
    /// from what the canary's launch recorded: before the record names the
    /// new version, the endpoint goes back to the old config; after, the
    /// split config and the old pair are deleted.
    @Test func aCanaryInterruptedByACrashIsSettledFromItsLaunchAtRestart() async throws {
        let sagemaker = SimulatedSageMaker()
        let server = try FaultServer(sagemaker.script.respond)
        let harness = try await servingV1(sagemaker, server: server, command: #"[python3, -c, "print()"]"#)
        defer { Task { await harness.tearDown() } }
        let driver = try SageMakerProject.driver(harness)
        let stable = try #require(try harness.store.deployment("demo-cloud"))
        let v1 = try #require(SageMakerTarget.handles(stable)?.endpointConfig)
        let deployment = try #require(try harness.source.fetch().manifests.deployments["demo-cloud"])
        let version = VersionRecord(
            model: "demo", number: 2, digest: "sha256:2", lineage: "{}", metrics: "{}", artifactPath: "s3://models/demo/v2/model.tar.gz",
            artifactDigest: "s3etag:v2", commit: "c2", gatesPassed: true, gateReport: "", createdAt: Date())
        let recorded = Mutex<String>("")
        func startCanary() async throws -> DeploymentRecord {
            let request = DeployRequest(
                deployment: deployment, version: version, revision: try harness.source.fetch(), current: stable, specDigest: "sha256:spec")
            var canary = try await driver.startCanary(
                request,
                launch: Launch(key: "deploy:demo-cloud@aws:2", adopted: nil) { detail in
                    recorded.withLock { $0 = detail }
                })
            canary.target = "aws"
            try await driver.split(canary, stable: stable, percent: 10)
            return canary
        }
        func recover(current: DeploymentRecord) async -> Recovery {
            await driver.recover(
                OpenLaunch(
                    key: "deploy:demo-cloud@aws:2", kind: .deploy, object: "Deployment/demo-cloud", detail: recorded.withLock { $0 },
                    current: current))
        }

        let canary = try await startCanary()
        let v2 = try #require(SageMakerTarget.handles(canary)?.endpointConfig)
        #expect(sagemaker.snapshot().weights == ["stable": 90, "canary": 10])
        #expect(await recover(current: stable) == .stillRunning, "the endpoint is updated back first")
        #expect(sagemaker.snapshot().config == v1)
        guard case .cleanedUp = await recover(current: stable) else {
            Issue.record("not settled once back on v1")
            return
        }
        #expect(sagemaker.snapshot().configs == [v1] && sagemaker.snapshot().models == [v1], "\(sagemaker.snapshot())")

        // Killed after the record named v2: what is left is deleted.
        let again = try await startCanary()
        try await driver.split(again, stable: stable, percent: 100)
        try await driver.commit(again)
        guard case .cleanedUp = await recover(current: again) else {
            Issue.record("not settled after the record moved")
            return
        }
        let now = sagemaker.snapshot()
        #expect(now.config == v2 && now.configs == [v2] && now.models == [v2], "\(now)")
    }

    /// The weight call's shape against moto, on an endpoint made with the
    /// two variants a canary's split config has.
    @Test func theWeightsOfAStepAreSetAndReadBackOnMoto() async throws {
        try await MotoServer.with { moto in
            let harness = try await SageMakerProject.make(endpoint: moto.endpoint, credentials: moto.credentialFiles())
            defer { Task { await harness.tearDown() } }
            let driver = try SageMakerProject.driver(harness)
            for model in ["m1", "m2"] {
                try await driver.api.perform(
                    "CreateModel",
                    CreateModel(
                        ModelName: model, PrimaryContainer: .init(Image: SageMakerProject.serveImage, ModelDataUrl: "s3://models/\(model)"),
                        ExecutionRoleArn: SageMakerProject.roleArn), idempotent: true)
            }
            try await driver.api.perform(
                "CreateEndpointConfig",
                CreateEndpointConfig(
                    EndpointConfigName: "split",
                    ProductionVariants: [
                        .init(VariantName: "stable", ModelName: "m1", InstanceType: "ml.m5.large", InitialInstanceCount: 1, InitialVariantWeight: 1),
                        .init(VariantName: "canary", ModelName: "m2", InstanceType: "ml.m5.large", InitialInstanceCount: 1, InitialVariantWeight: 0),
                    ]), idempotent: true)
            try await driver.api.perform("CreateEndpoint", EndpointAndConfig(EndpointName: "demo-cloud", EndpointConfigName: "split"), idempotent: true)
            func record(_ version: Int, config: String, split: String?) -> DeploymentRecord {
                DeploymentRecord(
                    name: "demo-cloud", model: "demo", version: version, target: "aws", address: "demo-cloud", specDigest: "s", commit: "c",
                    updatedAt: Date(),
                    detail: Digest.canonicalJSON(
                        SageMakerTarget.Handles(endpoint: "demo-cloud", endpointConfig: config, model: config, modelData: "", split: split)))
            }
            let canary = record(2, config: "m2", split: "split")
            try await driver.split(canary, stable: record(1, config: "m1", split: nil), percent: 30)
            let seen = try #require(try await driver.describeEndpoint("demo-cloud"))
            #expect(seen.shares == ["stable": 70, "canary": 30])
            let observed = await driver.observe(canary: canary, spec: nil)
            #expect(observed.serving && observed.forwarding && observed.healthy == true, "\(observed.detail)")
            #expect(observed.detail == "endpoint demo-cloud is InService, 30% to v2")
        }
    }
}
