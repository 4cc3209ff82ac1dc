import Foundation
import HTTP
import Testing
@testable import State
@testable import Targets

/// A Ray dashboard that errs, hangs or is gone, scripted with FaultServer:
/// each becomes an error or an observation, never a crash, and a duplicate
/// submission is adopted.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RayFaultTests {
    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        func set() { lock.withLock { value = true } }
        var isSet: Bool { lock.withLock { value } }
    }

    static let record = DeploymentRecord(name: "demo-prod", model: "demo", version: 1, target: "ray", address: "", backendPort: 0,
                                         specDigest: "", serveProcess: "", forwarderProcess: "", commit: "", updatedAt: Date(),
                                         detail: #"{"application":"demo-prod","artifact":"/x","package":"gcs://p.zip"}"#)

    /// A Harness whose project's ray Target points at `endpoint`.
    func harness(_ endpoint: String, storage: String = makeTemporaryDirectory("ray-storage")) async throws -> Harness {
        try Harness(try await RayProject.make(dashboard: endpoint, storage: storage))
    }

    func observe(_ endpoint: String) async throws -> ObservedDeployment {
        let h = try await harness(endpoint)
        return await try RayProject.driver(h, try await RayProject.desired(h)).observe(Self.record, spec: nil)
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

        let outcome = try await RayProject.driver(h, desired).train(request, intentKey: "train:demo:dup")
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
            try await RayProject.driver(h, desired).train(try RayProject.trainingRequest(desired), intentKey: "train:demo:503")
        }
        #expect(error?.status == 503)
        #expect(server.requests.count == RetryPolicy.standard.attempts, "an idempotent GET is retried")
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
            try await RayProject.driver(h, desired).deploy(try RayProject.deployRequest(desired, try RayProject.version(1, quality: 0.5)))
        }
        #expect(error?.description.contains("Serve application theirs") == true, "\(error.map { "\($0)" } ?? "")")
        #expect(error?.description.contains("imperative") == true)
        #expect(!server.requests.contains { $0.method == "PUT" && $0.path == "/api/serve/applications/" }, "nothing was replaced")
    }
}
