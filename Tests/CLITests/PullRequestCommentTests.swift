import Foundation
import GantryTestSupport
import Processes
import Testing

/// A GitHub-compatible API on 127.0.0.1 that keeps comments in memory,
/// requires one token, and logs every request (method, path, headers, body)
/// as a JSON line.
private let fakeForge = #"""
    import json, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    port, log, prefix, token_header = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    comments = [{"id": 7, "body": "Looks good to me"}]
    class H(BaseHTTPRequestHandler):
        def reply(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status); self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
        def any(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with open(log, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path, "body": raw.decode(),
                                    "headers": {k.lower(): v for k, v in self.headers.items()}}) + "\n")
            if self.headers.get("Authorization") != token_header:
                return self.reply(401, {"message": "Bad credentials"})
            path = self.path.split("?")[0]
            if not path.startswith(prefix): return self.reply(404, {})
            path = path[len(prefix):]
            if self.command == "GET" and path == "/repos/org/models/issues/42/comments":
                return self.reply(200, comments)
            if self.command == "POST" and path == "/repos/org/models/issues/42/comments":
                c = {"id": 100 + len(comments), "body": json.loads(raw)["body"]}
                comments.append(c); return self.reply(201, c)
            if self.command == "PATCH" and path.startswith("/repos/org/models/issues/comments/"):
                cid = int(path.rsplit("/", 1)[1])
                for c in comments:
                    if c["id"] == cid: c["body"] = json.loads(raw)["body"]; return self.reply(200, c)
                return self.reply(404, {})
            if self.command == "POST" and path.startswith("/repos/org/models/statuses/"):
                return self.reply(201, json.loads(raw))
            self.reply(404, {})
        do_GET = do_POST = do_PATCH = any
        def log_message(self, *a): pass
    ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
    """#

struct ForgeRequest: Decodable {
    var method: String
    var path: String
    var body: String
    var headers: [String: String]
}

@Suite(.serialized) struct PullRequestCommentTests {
    func startForge(prefix: String, authorization: String) async throws -> (api: String, log: String, stop: ChildProcess) {
        let dir = makeTemporaryDirectory("gantry-forge")
        try fakeForge.write(toFile: dir + "/forge.py", atomically: true, encoding: .utf8)
        let port = freePort()
        let child = try ChildProcess.spawn(
            ProcessSpec(
                argv: ["python3", dir + "/forge.py", "\(port)", dir + "/requests.jsonl", prefix, authorization],
                environment: ProcessInfo.processInfo.environment, logPath: dir + "/forge.log"))
        try await eventually("the forge listens") {
            try FileManager.default.fileExists(atPath: dir + "/forge.log") && Socket.canConnect(port: port)
        }
        return ("http://127.0.0.1:\(port)\(prefix)", dir + "/requests.jsonl", child)
    }

    func requests(_ log: String) throws -> [ForgeRequest] {
        try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(ForgeRequest.self, from: Data($0.utf8))
        }
    }

    func report(result: String) throws -> String {
        let path = NSTemporaryDirectory() + "plan-\(UUID().uuidString.prefix(6)).md"
        try "<!-- gantry:plan head=abc123 result=\(result) -->\n### Gantry plan\n\n**1 action**\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aGitHubCommentIsCreatedOnceThenUpdatedInPlaceWithACommitStatus() async throws {
        let (api, log, forge) = try await startForge(prefix: "", authorization: "Bearer gh-token")
        let env = testEnvironment(["GITHUB_TOKEN": "gh-token"])
        let first = try await gantry(
            ["pr", "comment", "--api-url", api, "--repo", "org/models", "--pr", "42", try report(result: "changes")], environment: env, timeout: .seconds(60))
        #expect(first.code == 0, "\(first.output)")
        #expect(first.output.contains("created comment 101 on org/models#42"))
        let second = try await gantry(
            ["pr", "comment", "--api-url", api, "--repo", "org/models", "--pr", "42", try report(result: "invalid")], environment: env, timeout: .seconds(60))
        #expect(second.code == 0, "\(second.output)")
        #expect(second.output.contains("updated comment 101 on org/models#42"))
        #expect(second.output.contains("set gantry/plan to failure on abc123"))

        let seen = try requests(log)
        #expect(
            seen.map { "\($0.method) \($0.path)" } == [
                "GET /repos/org/models/issues/42/comments?per_page=100&page=1",
                "POST /repos/org/models/issues/42/comments",
                "POST /repos/org/models/statuses/abc123",
                "GET /repos/org/models/issues/42/comments?per_page=100&page=1",
                "PATCH /repos/org/models/issues/comments/101",
                "POST /repos/org/models/statuses/abc123",
            ])
        for r in seen {
            #expect(r.headers["authorization"] == "Bearer gh-token")
            #expect(r.headers["accept"] == "application/vnd.github+json")
            #expect(r.headers["x-github-api-version"] == "2022-11-28")
        }
        let created = try JSONSerialization.jsonObject(with: Data(seen[1].body.utf8)) as? [String: String]
        #expect(created?["body"]?.hasPrefix("<!-- gantry:plan head=abc123 result=changes -->") == true)
        #expect(seen[1].headers["content-type"] == "application/json")
        let status = try JSONSerialization.jsonObject(with: Data(seen[2].body.utf8)) as? [String: String]
        #expect(status == ["state": "success", "context": "gantry/plan", "description": "Gantry plan: changes pending on merge"])
        let updated = try JSONSerialization.jsonObject(with: Data(seen[4].body.utf8)) as? [String: String]
        #expect(updated?["body"]?.contains("result=invalid") == true)
        _ = await forge.terminate(grace: .seconds(2))
    }

    @Test func giteaUsesItsAPIPrefixAndTokenScheme() async throws {
        let (api, log, forge) = try await startForge(prefix: "/api/v1", authorization: "token gt-token")
        let result = try await gantry(
            [
                "pr", "comment", "--provider", "gitea", "--api-url", api, "--token-env", "MY_GITEA",
                "--repo", "org/models", "--pr", "42", try report(result: "nothing"),
            ], environment: testEnvironment(["MY_GITEA": "gt-token"]), timeout: .seconds(60))
        #expect(result.code == 0, "\(result.output)")
        let seen = try requests(log)
        #expect(seen.first?.path == "/api/v1/repos/org/models/issues/42/comments?limit=50&page=1")
        #expect(seen.allSatisfy { $0.headers["authorization"] == "token gt-token" })
        _ = await forge.terminate(grace: .seconds(2))
    }

    @Test func aRejectedTokenFailsWithTheStatusAndNeverShowsTheToken() async throws {
        let (api, _, forge) = try await startForge(prefix: "", authorization: "Bearer right")
        let result = try await gantry(
            ["pr", "comment", "--api-url", api, "--repo", "org/models", "--pr", "42", try report(result: "changes")],
            environment: testEnvironment(["GITHUB_TOKEN": "wrong-secret-value"]), timeout: .seconds(60))
        #expect(result.code == 1)
        #expect(result.output.contains("answered 401"))
        #expect(!result.output.contains("wrong-secret-value"))
        _ = await forge.terminate(grace: .seconds(2))
    }
}

enum Socket {
    /// Whether something accepts TCP connections on 127.0.0.1:port.
    static func canConnect(port: Int) throws -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
