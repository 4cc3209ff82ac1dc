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

/// A project whose manifests add a `sagemaker` target named `aws` at
/// `endpoint` to the TestProject's own (a model `demo` trained on `local`).
enum SageMakerProject {
    static let roleArn = "arn:aws:iam::123456789012:role/gantry-test"
    static let trainImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1"
    static let serveImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1"

    /// - Parameters:
    ///   - cloudModel: adds Model `cloud` trained on `aws` by a pipeline
    ///     whose step has `trainingTimeout`, reading `datasets`.
    ///   - cloudDeployment: adds Deployment `demo-cloud` of demo@N on `aws`.
    ///   - localDeployment: keeps the TestProject's `demo-prod` on `local`.
    static func make(
        endpoint: String, credentials: (accessKeyId: String, secretAccessKey: String),
        cloudModel: Bool = false, trainingTimeout: String = "2m", datasets: String = "",
        cloudDeployment: Int? = nil, localDeployment: Bool = false
    ) async throws -> Harness {
        let project = try await TestProject(port: freePort())
        project.write(
            "manifests/aws.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: aws }
            spec:
              type: sagemaker
              endpoint: \(endpoint)
              region: us-east-1
              credentials:
                accessKeyId: { file: \(credentials.accessKeyId) }
                secretAccessKey: { file: \(credentials.secretAccessKey) }
              roleArn: \(roleArn)
              bucket: models
              image: \(trainImage)
              instanceType: ml.m5.xlarge
            """)
        if cloudModel {
            let pipeline = """
                apiVersion: gantry.dev/v1alpha1
                kind: Pipeline
                metadata: { name: cloud-training }
                spec:
                  params: { epochs: 3 }
                  steps:
                    - name: train
                      command: [python3, train.py]
                      timeout: \(trainingTimeout)
                  artifact: { step: train, path: model.tar.gz }
                """
            let model = """
                apiVersion: gantry.dev/v1alpha1
                kind: Model
                metadata: { name: cloud }
                spec:
                  pipeline: cloud-training
                  datasets: [\(datasets.isEmpty ? "" : "events")]
                  target: aws
                  params: { rate: 0.1 }
                """
            project.write("manifests/cloud.yaml", ((datasets.isEmpty ? [] : [datasets]) + [pipeline, model]).joined(separator: "\n---\n"))
        }
        if let version = cloudDeployment { project.write("manifests/cloud-deployment.yaml", deployment(version: version)) }
        if !localDeployment { project.remove("manifests/deployment.yaml") }
        try await project.commit("Serve on SageMaker")
        return try Harness(project)
    }

    static func deployment(version: Int, healthTimeout: String = "20s", env: String = "") -> String {
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Deployment
        metadata: { name: demo-cloud }
        spec:
          model: demo
          version: \(version)
          serve: { image: \(serveImage)\(env.isEmpty ? "" : ", env: \(env)") }
          targets: [{ target: aws, replicas: 2 }]
          healthCheck: { timeout: \(healthTimeout) }
        """
    }

    /// An S3 dataset `events` under `s3://data/events/` on `endpoint`.
    static func s3Dataset(endpoint: String, credentials: (accessKeyId: String, secretAccessKey: String)) -> String {
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Dataset
        metadata: { name: events }
        spec:
          source:
            s3:
              bucket: data
              key: events/
              endpoint: \(endpoint)
              credentials:
                accessKeyId: { file: \(credentials.accessKeyId) }
                secretAccessKey: { file: \(credentials.secretAccessKey) }
        """
    }

    /// The `aws` target's driver, polling every few milliseconds.
    static func driver(_ harness: Harness, retry: RetryPolicy = .standard, timeout: Duration = .seconds(30)) throws -> SageMakerTarget {
        let revision = try harness.source.fetch()
        let spec = try #require(revision.manifests.targets["aws"]?.spec)
        var driver = try SageMakerTarget(
            DriverContext(name: "aws", spec: spec, workspace: harness.workspace, versions: harness.store),
            retry: retry, timeout: timeout)
        driver.firstPoll = .milliseconds(10)
        driver.longestPoll = .milliseconds(50)
        return driver
    }

    /// What the reconciler would hand the driver to train `model` now.
    static func trainingRequest(_ harness: Harness, model: String) async throws -> TrainingRequest {
        let revision = try harness.source.fetch()
        let (_, plan) = try await harness.reconciler.plan(revision, readOnly: true)
        let action = try #require(plan.actions.first { $0.kind == .train && $0.model == model }, "\(plan.actions.map(\.summary))")
        let entry = try #require(revision.manifests.models[model])
        let pipeline = try #require(revision.manifests.pipelines[entry.spec.pipeline])
        let datasets = revision.manifests.datasets.filter { (entry.spec.datasets ?? []).contains($0.key) }
        return TrainingRequest(
            model: entry, pipeline: pipeline, lineage: try #require(action.lineage), revision: revision,
            datasets: datasets)
    }

    /// Credentials in files, for peers that are not moto.
    static func credentialFiles(accessKey: String = MotoServer.accessKey, secret: String) -> (accessKeyId: String, secretAccessKey: String) {
        let directory = makeTemporaryDirectory("sagemaker-credentials")
        try! accessKey.write(toFile: directory + "/id", atomically: true, encoding: .utf8)
        try! secret.write(toFile: directory + "/secret", atomically: true, encoding: .utf8)
        return (directory + "/id", directory + "/secret")
    }

    /// A JSON answer as a dictionary.
    static func object(_ response: HTTPResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
    }
}

/// SageMaker played by a FaultServer: each JSON call is answered by
/// `handler(action, n, script)` with `n` counting that action's calls from
/// 0; S3 requests find no object (HEAD 404) and accept uploads.
final class SageMakerScript: @unchecked Sendable {
    private let lock = NSLock()
    private var bodies: [String: [[String: Any]]] = [:]
    private let handler: @Sendable (String, Int, SageMakerScript) -> FaultServer.Response

    init(_ handler: @escaping @Sendable (_ action: String, _ call: Int, _ script: SageMakerScript) -> FaultServer.Response) {
        self.handler = handler
    }

    /// The JSON bodies sent with `action`, in order.
    func sent(_ action: String) -> [[String: Any]] {
        lock.lock()
        defer { lock.unlock() }
        return bodies[action] ?? []
    }

    func respond(_ request: FaultServer.Request) -> FaultServer.Response {
        guard let target = request.headers["x-amz-target"], target.hasPrefix("SageMaker.") else {
            return request.method == "HEAD" ? .status(404) : .status(200)
        }
        let action = String(target.dropFirst("SageMaker.".count))
        let body = (try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any]) ?? [:]
        lock.lock()
        bodies[action, default: []].append(body)
        let call = bodies[action]!.count - 1
        lock.unlock()
        return handler(action, call, self)
    }

    /// The actions of `requests`, in order.
    static func actions(_ requests: [FaultServer.Request]) -> [String] {
        requests.compactMap { $0.headers["x-amz-target"].map { String($0.dropFirst("SageMaker.".count)) } }
    }

    static let notFound = FaultServer.Response.json(#"{"__type":"ValidationException","message":"Could not find it."}"#, status: 400)

    static func endpoint(_ status: String, config: String, failure: String? = nil) -> FaultServer.Response {
        var object: [String: Any] = [
            "EndpointName": "demo-cloud", "EndpointStatus": status, "EndpointConfigName": config,
            "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/demo-cloud",
        ]
        if let failure { object["FailureReason"] = failure }
        return .json(String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self))
    }
}
