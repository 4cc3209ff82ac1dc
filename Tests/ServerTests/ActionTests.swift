import Controller
import Foundation
import GantryTestSupport
import HTTP
import Hummingbird
import Logging
import Server
import ServiceLifecycle
import State
import Testing

/// A receiver for outgoing notifications: a real HTTP server on loopback
/// that keeps every body it is sent.
final class NotificationInbox: @unchecked Sendable {
    let port = freePort()
    private let lock = NSLock()
    private var bodies: [String] = []
    private var task: Task<Void, any Error>?

    var received: [String] { lock.withLock { bodies } }

    func start() async throws {
        let router = Router()
        router.post("/hook") { request, _ -> HTTPResponse.Status in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
            self.lock.withLock { self.bodies.append(body) }
            return .ok
        }
        var logger = Logger(label: "inbox")
        logger.logLevel = .error
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        task = Task { try await app.runService() }
        try await eventually("the inbox answers") {
            (try? await HTTPClient.shared.send(HTTP.HTTPRequest(method: "POST", url: "http://127.0.0.1:\(port)/ping", body: []))) != nil
        }
    }

    func stop() { task?.cancel() }
}

@Suite(.serialized, .timeLimit(.minutes(5)))
struct ActionTests {
    @Test func anOperatorSuspendsResumesAndRollsBackThroughGit() async throws {
        let inbox = NotificationInbox()
        try await inbox.start()
        defer { inbox.stop() }
        let project = try await ServerProject()
        let controller = try await LiveController(
            project,
            notify: [
                .init(url: "http://127.0.0.1:\(inbox.port)/hook", format: .slack),
                .init(url: "http://127.0.0.1:\(inbox.port)/hook", format: .generic),
            ])
        defer { Task { await controller.stop() } }  // on a failure; the end of the test awaits it
        try await controller.waitForFirstReconcile()

        // v2 is trained and pinned by a commit.
        try project.setQuality(from: "0.8", to: "0.9")
        project.write("manifests/deployment.yaml", project.deploymentManifest(version: 2))
        try await project.push("Ship v2")
        #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
        try await eventually("v2 serves") { try controller.store.deployment("demo-prod")?.version == 2 }
        #expect(inbox.received.contains { $0.contains(#""event":"retrained""#) && $0.contains("Model/demo") })
        #expect(inbox.received.contains { $0.hasPrefix(#"{"text":"#) && $0.contains("Retrained") })

        // Suspended, the Deployment is left alone and the plan says why.
        let suspend = try await controller.send(
            "POST", "/api/v1/deployments/demo-prod/suspend", token: Tokens.operator,
            body: #"{"reason": "load test"}"#)
        #expect(suspend.status == 200, "\(suspend.text)")
        try await eventually("the plan shows the suspension") {
            controller.loop.status.snapshot.plan?.warnings.contains { $0.hasPrefix("Deployment/demo-prod: suspended by olivia (load test)") } == true
        }
        let objects = try await controller.json("/api/v1/deployments/demo-prod") as! [String: Any]
        #expect((objects["sync"] as? [String: Any])?["status"] as? String == "Suspended")
        #expect(try await controller.send("POST", "/api/v1/deployments/demo-prod/resume", token: Tokens.operator).status == 200)
        #expect(try controller.store.suspensions().isEmpty)

        // A rollback is a commit on the followed branch; the loop deploys it.
        let rollback = try await controller.send(
            "POST", "/api/v1/deployments/demo-prod/rollback", token: Tokens.operator,
            body: #"{"reason": "v2 answers slowly"}"#)
        #expect(rollback.status == 200, "\(rollback.text)")
        let answer = try JSONSerialization.jsonObject(with: Data(rollback.body)) as! [String: Any]
        let result = answer["rollback"] as! [String: Any]
        #expect(result["fromVersion"] as? Int == 2 && result["toVersion"] as? Int == 1 && result["applied"] as? Bool == true)
        try await eventually("v1 serves again") { try controller.store.deployment("demo-prod")?.version == 1 }
        let log = try await git(["--git-dir", project.bare, "log", "-1", "--format=%s%n%b", "main"], in: project.directory)
        #expect(log.contains("gantry: roll back demo-prod to demo@v1 (from v2)"))
        #expect(log.contains("Requested by olivia: v2 answers slowly"))
        #expect(try controller.store.auditLog().contains { $0.action == "rollback" && $0.actor == "olivia" && $0.result.hasPrefix("succeeded") })
        #expect(inbox.received.contains { $0.contains(#""event":"rolled-back""#) && $0.contains("olivia") })
        let drift = try await controller.json("/api/v1/drift") as! [Any]
        #expect(drift.isEmpty, "Git and what runs agree after the rollback")

        // Nothing older than v1: a conflict, and nothing changes.
        let none = try await controller.send("POST", "/api/v1/deployments/demo-prod/rollback", token: Tokens.operator, body: "{}")
        #expect(none.status == 409)
        await controller.stop()
    }

    @Test func aGracefulShutdownLetsTheActionUnderWayFinishAndLeavesTheRest() async throws {
        let project = try await ServerProject()
        // The training holds until the test has asked the controller to
        // stop, however slow the machine: no race with a sleep.
        let release = makeTemporaryDirectory("release") + "/go"
        project.write(
            "src/train.py",
            "import os, time\nfor _ in range(600):\n    if os.path.exists(\(String(reflecting: release))): break\n    time.sleep(0.1)\n"
                + (try String(contentsOfFile: project.directory + "/src/train.py", encoding: .utf8)))
        try await project.push("Training that waits")
        let controller = try await LiveController(project)
        defer { Task { await controller.stop() } }  // on a failure; the end of the test awaits it
        try await eventually("training started") { !(try controller.store.openIntents().isEmpty) }
        await controller.group.triggerGracefulShutdown()
        try await eventually("the loop knows it is stopping") { controller.loop.status.snapshot.stopping }
        #expect(FileManager.default.createFile(atPath: release, contents: Data()))
        _ = try? await controller.task?.value
        #expect(try controller.store.versions(of: "demo").count == 1, "the training under way finished")
        #expect(try controller.store.deployments().isEmpty, "the deploy after it waits for the next start")
        let audit = try controller.store.auditLog()
        #expect(audit.contains { $0.action == "deploy" && $0.result.hasPrefix("not started: the controller is stopping") })
        #expect(try controller.store.reconciles(limit: 1).first?.result == "interrupted")
        await controller.stop()
    }
}

struct UnitTests {
    @Test func aTokensFileHoldsHashesOnly() throws {
        let dir = makeTemporaryDirectory("tokens")
        try """
        - name: alice
          role: operator
          sha256: \(TokenFile.hash("s3cret-token"))
        """.write(toFile: dir + "/tokens.yaml", atomically: true, encoding: .utf8)
        let file = try TokenFile.load(path: dir + "/tokens.yaml")
        #expect(file.authenticate("s3cret-token")?.name == "alice")
        #expect(file.authenticate("s3cret-tokem") == nil)
        try #"[{"name": "bob", "role": "root", "sha256": "00"}]"#.write(toFile: dir + "/bad.json", atomically: true, encoding: .utf8)
        #expect(throws: TokenFile.Problem.self) { try TokenFile.load(path: dir + "/bad.json") }
        try #"[{"name": "bob", "role": "viewer", "sha256": "plaintext"}]"#.write(toFile: dir + "/plain.json", atomically: true, encoding: .utf8)
        #expect(throws: TokenFile.Problem.self) { try TokenFile.load(path: dir + "/plain.json") }
    }

    @Test func jsonLogLinesAreFlatAndRedactSecrets() throws {
        let lines = LockedLines()
        let handler = LogLines(label: "t", json: true, redactor: Redactor(secrets: ["hunter2-secret"])) { lines.append($0) }
        let logger = Logger(label: "t", factory: { _ in handler })
        logger.info(
            "fetch https://user:pw@git.example/x.git with hunter2-secret",
            metadata: ["authorization": "Bearer abc", "count": "3", "url": "https://tok@host/r"])
        let object = try JSONSerialization.jsonObject(with: Data(lines.all[0].utf8)) as! [String: String]
        #expect(object["msg"] == "fetch https://[redacted]@git.example/x.git with [redacted]")
        #expect(object["authorization"] == "[redacted]")
        #expect(object["url"] == "https://[redacted]@host/r")
        #expect(object["count"] == "3" && object["level"] == "info" && object["time"] != nil)

        // Numbers and booleans given as such stay numbers and booleans.
        logger.info("reconciled", metadata: ["actions": .stringConvertible(2), "seconds": .stringConvertible(1.25), "ok": .stringConvertible(true)])
        let typed = try JSONSerialization.jsonObject(with: Data(lines.all[1].utf8)) as! [String: Any]
        #expect(lines.all[1].contains(#""actions":2"#) && lines.all[1].contains(#""seconds":1.25"#) && lines.all[1].contains(#""ok":true"#), "\(lines.all[1])")
        #expect(typed["msg"] as? String == "reconciled")
    }
}

final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}
