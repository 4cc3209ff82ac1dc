import Foundation
import HTTP
import Testing

/// The client every remote driver shares, against scripted faults on a real
/// loopback socket.
@Suite(.timeLimit(.minutes(1)))
struct RESTClientTests {
    struct Echo: Codable, Equatable { var ok: Bool }

    let quick = RetryPolicy(attempts: 4, initialDelay: .milliseconds(10), maxDelay: .milliseconds(40))

    @Test func anIdempotentCallIsRetriedThrough5xxUntilItSucceeds() async throws {
        let server = try FaultServer { $0.index < 2 ? .status(503, "busy") : .json(#"{"ok":true}"#) }
        let client = RESTClient(baseURL: server.endpoint, retry: quick)
        let answer: Echo = try await client.get("/api/thing", query: [("name", "a b/c")])
        #expect(answer == Echo(ok: true))
        #expect(server.requests.count == 3)
        #expect(server.requests.first?.path == "/api/thing?name=a%20b%2Fc")
    }

    @Test func aPostIsNotRepeatedAfterAnAnswerAndTheErrorCarriesStatusAndBodyWithoutTheToken() async throws {
        let token = "tok-3f9a-secret"
        let server = try FaultServer { request in
            .status(500, "Traceback (most recent call last):\n  saw Authorization: \(request.headers["authorization"] ?? "")\nValueError: boom")
        }
        let client = RESTClient(baseURL: server.endpoint, auth: .bearer(token), retry: quick)
        do {
            _ = try await client.sendJSON("POST", "/api/jobs/", json: ["entrypoint": "python train.py"])
            Issue.record("a 500 must throw")
        } catch let error as HTTPStatusError {
            #expect(error.status == 500)
            #expect(error.description.contains("POST \(server.endpoint)/api/jobs/ answered 500"))
            #expect(error.description.contains("ValueError: boom"))
            #expect(!error.description.contains(token), "\(error)")
            #expect(!error.description.contains("\n"))
        }
        #expect(server.requests.count == 1, "a POST that reached the peer is not sent twice")
        #expect(server.requests.first?.headers["content-type"] == "application/json")
        #expect(server.requests.first?.text == #"{"entrypoint":"python train.py"}"#)
    }

    @Test func aPostMarkedIdempotentIsRetried() async throws {
        let server = try FaultServer { $0.index == 0 ? .status(502) : .json(#"{"ok":true}"#) }
        let client = RESTClient(baseURL: server.endpoint, retry: quick)
        let answer: Echo = try await client.post("/submit", json: ["submission_id": "gantry-1"], idempotent: true)
        #expect(answer.ok)
        #expect(server.requests.count == 2)
    }

    @Test func aPeerThatHangsTimesOutOnEveryTryAndTheErrorSaysHowManyTries() async throws {
        let server = try FaultServer { _ in .hang(.seconds(3)) }
        let client = RESTClient(
            baseURL: server.endpoint, retry: RetryPolicy(attempts: 2, initialDelay: .milliseconds(10)),
            timeout: .milliseconds(300))
        do {
            try await client.send("GET", "/slow")
            Issue.record("a peer that never answers must time out")
        } catch let error as HTTPError {
            #expect(error.code == 28, "curl's operation-timed-out: \(error)")
            #expect(error.description.contains("after 2 tries"), "\(error)")
        }
        #expect(server.requests.count == 2)
    }

    @Test func aRefusedConnectionIsRetriedEvenForAPostBecauseNothingWasSent() async throws {
        let refusing = try RefusingPort()
        let client = RESTClient(baseURL: refusing.endpoint, retry: RetryPolicy(attempts: 3, initialDelay: .milliseconds(5)))
        do {
            try await client.sendJSON("POST", "/x", json: ["a": 1])
            Issue.record("nothing listens")
        } catch let error as HTTPError {
            #expect(error.neverSent)
            #expect(error.description.contains("after 3 tries"), "\(error)")
        }
        withExtendedLifetime(refusing) {}
    }

    @Test func aBodyThatIsNotTheExpectedJSONIsAnErrorWithAnExcerpt() async throws {
        let server = try FaultServer { _ in .json("<html>proxy error</html>") }
        let client = RESTClient(baseURL: server.endpoint, retry: .none)
        await #expect(throws: HTTPStatusError.self) { let _: Echo = try await client.get("/") }
        do { let _: Echo = try await client.get("/") } catch {
            #expect("\(error)".contains("<html>proxy error</html>"))
        }
    }

    @Test func backoffGrowsExponentiallyUpToItsCapAndEachWaitIsJitteredBelowTheCeiling() {
        let policy = RetryPolicy(attempts: 8, initialDelay: .milliseconds(100), maxDelay: .seconds(1))
        #expect((1...6).map { policy.ceiling(after: $0) } == [100, 200, 400, 800, 1000, 1000].map { .milliseconds($0) })
        let waits = (0..<200).map { _ in policy.delay(after: 3) }
        #expect(waits.allSatisfy { $0 >= .zero && $0 <= .milliseconds(400) })
        #expect(Set(waits).count > 20, "waits are spread, not in step")
        #expect(RetryPolicy.isRetryable(method: "GET", status: 503))
        #expect(!RetryPolicy.isRetryable(method: "GET", status: 404))
        #expect(!RetryPolicy.isRetryable(method: "POST", status: 503))
        #expect(RetryPolicy.isRetryable(method: "POST", idempotent: true, status: 503))
    }
}
