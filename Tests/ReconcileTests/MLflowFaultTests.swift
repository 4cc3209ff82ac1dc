import Foundation
import GantryTestSupport
import Manifests
import Testing

@testable import Reconciler
@testable import State
@testable import Targets

/// What a real MLflow server will not do on demand, scripted: a version that
/// is still registering or failed to, a server that does not proxy
/// artifacts, another writer creating the model and experiment between
/// Gantry's look and its create, and odd answers when observing.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct MLflowFaultTests {
    /// Counts calls per path, for answers that change on the next call.
    final class Calls: @unchecked Sendable {
        private let lock = NSLock()
        private var counts: [String: Int] = [:]
        private var tags = "[]"
        func next(_ path: String) -> Int {
            lock.lock()
            defer { lock.unlock() }
            counts[path, default: 0] += 1
            return counts[path]!
        }

        /// The tags of the version Gantry created, as JSON.
        var createdTags: String {
            get { lock.withLock { tags } }
            set { lock.withLock { tags = newValue } }
        }
    }

    /// An MLflow server as the driver sees it during a first deploy. The
    /// registered model and the experiment are created by someone else
    /// between Gantry's look and its create.
    static func registry(
        artifactURI: String, created status: String, thenStatus: String = "READY",
        existing: String = "{}"
    ) throws -> FaultServer {
        let calls = Calls()
        let missing = #"{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "not found"}"#
        let exists = #"{"error_code": "RESOURCE_ALREADY_EXISTS", "message": "already exists"}"#
        @Sendable func version(_ status: String) -> String {
            #"{"model_version": {"name": "scripted", "version": "1", "status": "\#(status)", "status_message": "artifact store is full"}}"#
        }
        return try FaultServer { request in
            let path = String(request.path.split(separator: "?").first ?? "")
            switch (request.method, path.replacingOccurrences(of: "/api/2.0/mlflow/", with: "")) {
            case ("GET", "registered-models/get"): return .json(missing, status: 404)
            case ("POST", "registered-models/create"): return .json(exists, status: 400)
            case ("GET", "model-versions/search"): return .json(existing)
            case ("GET", "experiments/get-by-name"):
                return calls.next(path) == 1 ? .json(missing, status: 404) : .json(#"{"experiment": {"experiment_id": "7"}}"#)
            case ("POST", "experiments/create"): return .json(exists, status: 400)
            case ("POST", "runs/search"): return .json(#"{}"#)
            case ("POST", "runs/create"):
                return .json(#"{"run": {"info": {"run_id": "r1", "experiment_id": "7", "artifact_uri": "\#(artifactURI)", "status": "RUNNING"}}}"#)
            case ("POST", "runs/log-batch"), ("POST", "runs/update"), ("POST", "registered-models/alias"): return .json("{}")
            case ("POST", "model-versions/create"):
                // Kept, so that the alias read back shows the version's tags.
                if let body = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any], let tags = body["tags"],
                    let json = try? JSONSerialization.data(withJSONObject: tags)
                {
                    calls.createdTags = String(decoding: json, as: UTF8.self)
                }
                return .json(version(status))
            case ("GET", "registered-models/alias"):
                return .json(#"{"model_version": {"name": "scripted", "version": "1", "status": "READY", "tags": \#(calls.createdTags)}}"#)
            case ("GET", "model-versions/get"): return .json(version(calls.next(path) == 1 ? status : thenStatus))
            default:
                return request.method == "PUT" && path.hasPrefix("/api/2.0/mlflow-artifacts/") ? .json("{}") : .status(501, "not scripted")
            }
        }
    }

    func deploy(to server: FaultServer) async throws -> (Harness, Reconciler.Report) {
        let project = try await MLflowTests.project("scripted", endpoint: server.endpoint)
        let h = try Harness(project)
        return (h, try await h.apply().report)
    }

    @Test func aVersionStillRegisteringIsWaitedForAndRacingCreatesAreNotErrors() async throws {
        let server = try Self.registry(artifactURI: "mlflow-artifacts:/7/r1/artifacts", created: "PENDING_REGISTRATION")
        defer { server.stop() }
        let (h, report) = try await deploy(to: server)
        #expect(report.ok, "\(report.failed.map(\.error))")
        let calls = server.requests.map { "\($0.method) \($0.path.split(separator: "?")[0])" }
        #expect(calls.contains("PUT /api/2.0/mlflow-artifacts/artifacts/7/r1/artifacts/model/model.json"), "\(calls)")
        #expect(calls.filter { $0 == "GET /api/2.0/mlflow/model-versions/get" }.count == 2, "\(calls)")
        #expect(calls.suffix(2) == ["POST /api/2.0/mlflow/registered-models/alias", "GET /api/2.0/mlflow/registered-models/alias"], "set, then read back")
        let alias = try #require(server.requests.last { $0.method == "POST" }?.text)
        #expect(alias == #"{"alias":"scripted-prod","name":"scripted","version":"1"}"#, "the version goes as a string")
        #expect(try h.store.deployment("scripted-prod")?.address == "models:/scripted@scripted-prod")
    }

    @Test func aFailedRegistrationFailsTheDeployWithMLflowsReason() async throws {
        let server = try Self.registry(artifactURI: "mlflow-artifacts:/7/r1/artifacts", created: "FAILED_REGISTRATION")
        defer { server.stop() }
        let (h, report) = try await deploy(to: server)
        #expect(report.failed.map(\.error) == ["MLflow version 1 of scripted (gantry v1) is FAILED_REGISTRATION: artifact store is full"])
        #expect(try h.store.deployment("scripted-prod") == nil)
        #expect(!server.requests.contains { $0.path.contains("registered-models/alias") }, "no alias on a failed version")
    }

    @Test func aVersionWhoseRegistrationFailedIsRegisteredAgainNotAliased() async throws {
        let failed =
            #"{"model_versions": [{"name": "scripted", "version": "1", "status": "FAILED_REGISTRATION", "#
            + #""tags": [{"key": "gantry.version", "value": "1"}, {"key": "gantry.lineage", "value": "sha256:other"}]}]}"#
        let server = try Self.registry(artifactURI: "mlflow-artifacts:/7/r1/artifacts", created: "READY", existing: failed)
        defer { server.stop() }
        let (_, report) = try await deploy(to: server)
        #expect(report.ok, "a failed version neither counts as published nor clashes: \(report.failed.map(\.error))")
        #expect(server.requests.contains { $0.path == "/api/2.0/mlflow/model-versions/create" })
    }

    @Test func aServerThatDoesNotProxyArtifactsIsToldHowToStartIt() async throws {
        let server = try Self.registry(artifactURI: "s3://models/7/r1/artifacts", created: "READY")
        defer { server.stop() }
        let (_, report) = try await deploy(to: server)
        let failure = try #require(report.failed.first?.error)
        #expect(
            failure == "the MLflow server at \(server.endpoint) does not proxy artifacts (the run's artifact URI is "
                + "s3://models/7/r1/artifacts); start it with --serve-artifacts and --artifacts-destination")
    }

    @Test(arguments: [
        ("gone", 404, #"{"error_code": "RESOURCE_DOES_NOT_EXIST"}"#, false, "registered model gone does not exist at "),
        ("broken", 400, #"{"error_code": "INVALID_PARAMETER_VALUE", "message": "bad filter"}"#, false, "could not be read: "),
        (
            "failed", 200,
            #"{"model_version": {"name": "failed", "version": "3", "status": "FAILED_REGISTRATION", "tags": [{"key": "gantry.version", "value": "1"}]}}"#,
            true, "alias failed-prod points at MLflow version 3 (gantry v1), which is FAILED_REGISTRATION"
        ),
        (
            "foreign", 200, #"{"model_version": {"name": "foreign", "version": "4", "status": "READY"}}"#,
            true, "alias foreign-prod points at MLflow version 4 (not published by Gantry); Git pins v1 (moved outside Gantry)"
        ),
    ])
    func oddAnswersAreObservationsWithTheirReason(model: String, status: Int, body: String, serving: Bool, detail: String) async throws {
        let server = try FaultServer { _ in .json(body, status: status) }
        defer { server.stop() }
        let h = try Harness(try await TestProject(port: freePort()))
        let driver = try Drivers.make(
            DriverContext(
                name: "registry", spec: TargetSpec(type: .mlflow, endpoint: server.endpoint),
                workspace: h.workspace, versions: h.store))
        let record = DeploymentRecord(
            name: "\(model)-prod", model: model, version: 1, target: "registry",
            address: "models:/\(model)@\(model)-prod", specDigest: "",
            commit: "", updatedAt: Date())
        let seen = await driver.observe(record, spec: nil)
        #expect(seen.serving == serving)
        #expect(!seen.forwarding || model == "failed")
        #expect(seen.healthy != true)
        #expect(seen.detail.contains(detail), "\(seen.detail)")
    }
}
