import Foundation
import GantryTestSupport
import HTTP
import Processes
import Testing

@testable import Targets

/// A real Ray head on 127.0.0.1, from the peers venv, with its dashboard
/// (Jobs, packages, Serve) and Serve's HTTP proxy on free ports. Starting
/// one takes seconds and about 1 GB, so a suite shares one: the `.rayHead`
/// trait starts it before the suite's first test and stops it after the
/// last (`ray stop --force` too, so no raylet outlives the suite).
final class RayHead: @unchecked Sendable {
    @TaskLocal static var current: RayHead?

    let dashboard: String
    let servePort: Int
    let temporaryDirectory: String
    let child: ChildProcess
    let log: String
    let environment: [String: String]

    private init(
        dashboard: String, servePort: Int, temporaryDirectory: String, child: ChildProcess, log: String,
        environment: [String: String]
    ) {
        self.dashboard = dashboard
        self.servePort = servePort
        self.temporaryDirectory = temporaryDirectory
        self.child = child
        self.log = log
        self.environment = environment
    }

    static func ray() throws -> String {
        let ray = Peers.venv + "/bin/ray"
        guard FileManager.default.isExecutableFile(atPath: ray) else {
            throw PeerError(description: "\(ray) not found: run scripts/peers (it installs ray[default,serve] into \(Peers.venv))")
        }
        return ray
    }

    /// A head that answers Serve's first PUT. On a loaded 2-core machine a
    /// head's dashboard has answered the Jobs API and then refused every
    /// connection for over a minute; such a head is stopped and a fresh
    /// one started, once.
    static func start() async throws -> RayHead {
        do {
            return try await startOnce()
        } catch {
            return try await startOnce()
        }
    }

    private static func startOnce() async throws -> RayHead {
        let ray = try ray()
        // Ray's sockets live under the temp dir, and a Unix socket path has
        // a short limit: keep it near the root.
        let temporary = "/tmp/gray-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        var environment = Peers.environment
        environment["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        // Jobs start `python3`, and Serve's replicas import ray: the venv's.
        environment["PATH"] = Peers.venv + "/bin:" + (environment["PATH"] ?? "/usr/bin:/bin")
        let ports = (0..<5).map { _ in freePort() }
        let log = temporary + "/head.log"
        let child = try ChildProcess.spawn(
            ProcessSpec(
                argv: [
                    ray, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--dashboard-host", "127.0.0.1",
                    "--dashboard-port", "\(ports[0])", "--port", "\(ports[1])", "--ray-client-server-port", "\(ports[2])",
                    "--dashboard-agent-listen-port", "\(ports[3])", "--num-cpus", "2", "--disable-usage-stats",
                    "--temp-dir", temporary,
                ],
                environment: environment, workingDirectory: temporary, logPath: log))
        let head = RayHead(
            dashboard: "http://127.0.0.1:\(ports[0])", servePort: ports[4], temporaryDirectory: temporary,
            child: child, log: log, environment: environment)
        do {
            try await head.waitReady()
            // Serve starts on the first PUT; this one puts its proxy on a
            // free port and deploys nothing.
            // Under load the dashboard can answer the Jobs API and then
            // refuse connections for a few seconds (CI saw four refused
            // tries in a row), so this first PUT gets a minute.
            let deadline = ContinuousClock.now + .seconds(60)
            while true {
                do {
                    try await head.putServe(#"{"http_options": {"host": "127.0.0.1", "port": \#(head.servePort)}, "applications": []}"#)
                    break
                } catch {
                    guard ContinuousClock.now < deadline, head.child.exitStatus == nil else { throw error }
                    try await Task.sleep(for: .seconds(1))
                }
            }
        } catch {
            await head.stop()
            throw error
        }
        return head
    }

    func waitReady() async throws {
        // Slow on a busy 2-core machine: half a minute is not unusual.
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if child.exitStatus != nil { break }
            if let r = try? await HTTPClient.shared.send(HTTPRequest(url: dashboard + "/api/jobs/", timeout: .seconds(2))), r.status == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw PeerError(description: "the Ray head did not answer on \(dashboard): \(tail())")
    }

    func tail() -> String {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    /// `ray stop --force` first: `ray start --block` takes half a minute
    /// to wind down on SIGTERM, while SIGKILL to every Ray process takes
    /// seconds; then the head's own process goes.
    func stop() async {
        if let ray = try? Self.ray() {
            _ = try? await runCommand([ray, "stop", "--force"], in: temporaryDirectory, environment: environment, timeout: .seconds(60))
        }
        _ = await child.terminate(grace: .seconds(5))
        try? FileManager.default.removeItem(atPath: temporaryDirectory)
    }

    // MARK: - The dashboard, as a test uses it

    var client: RESTClient { RESTClient(baseURL: dashboard, timeout: .seconds(60)) }

    func putServe(_ json: String) async throws {
        try await client.send("PUT", "/api/serve/applications/", body: Array(json.utf8), contentType: "application/json")
    }

    /// The applications Serve reports, as JSON objects.
    func applications() async throws -> [String: [String: Any]] {
        let body = try await client.send("GET", "/api/serve/applications/").body
        let object = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
        return object?["applications"] as? [String: [String: Any]] ?? [:]
    }

    /// Waits until `name` has `status` (or is gone, for nil).
    @discardableResult
    func waitFor(_ name: String, status: String?, timeout: Duration = .seconds(120)) async throws -> [String: Any]? {
        let deadline = ContinuousClock.now + timeout
        var seen = "nothing"
        while ContinuousClock.now < deadline {
            let app = try await applications()[name]
            if app?["status"] as? String == status { return app }
            seen = "\(app?["status"] ?? "absent") \(app?["message"] ?? "")"
            try await Task.sleep(for: .milliseconds(300))
        }
        throw PeerError(description: "Serve application \(name) did not become \(status ?? "absent"): \(seen)")
    }

    struct JobSummary: Decodable {
        var submission_id: String?
        var status: String
    }

    func jobs() async throws -> [JobSummary] {
        try await client.get("/api/jobs/")
    }

    /// A GET on Serve's HTTP proxy.
    func serve(_ route: String) async throws -> HTTPResponse {
        try await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:\(servePort)\(route)", timeout: .seconds(10)))
    }
}

/// Starts one Ray head around a whole suite and hands it to each test as
/// `RayHead.current`.
struct RayHeadTrait: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let head = try await RayHead.start()
        do {
            try await RayHead.$current.withValue(head) { try await function() }
        } catch {
            await head.stop()
            throw error
        }
        await head.stop()
    }
}

extension Trait where Self == RayHeadTrait {
    static var rayHead: Self { RayHeadTrait() }
}
