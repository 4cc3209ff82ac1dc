import Foundation
import GantryTestSupport
import Manifests
import Processes
import Testing

@testable import Source

/// A Git smart-HTTP server: Python's http.server runs `git http-backend`
/// itself (its CGI handler cannot) and requires basic auth with one token.
private let server = #"""
    import base64, os, subprocess, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    root, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    class H(BaseHTTPRequestHandler):
        def handle_any(self):
            expected = "Basic " + base64.b64encode(("x-access-token:" + token).encode()).decode()
            if self.headers.get("Authorization") != expected:
                self.send_response(401); self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0"); self.end_headers(); return
            path, _, query = self.path.partition("?")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            env = dict(os.environ, GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path, QUERY_STRING=query,
                       REQUEST_METHOD=self.command, CONTENT_TYPE=self.headers.get("Content-Type", ""),
                       CONTENT_LENGTH=str(len(body)), REMOTE_USER="x-access-token")
            out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
            head, _, rest = out.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.decode().split("\r\n"):
                k, _, v = line.partition(": ")
                if k.lower() == "status": status = int(v.split()[0])
                elif k: headers.append((k, v))
            self.send_response(status)
            for k, v in headers: self.send_header(k, v)
            self.send_header("Content-Length", str(len(rest))); self.end_headers(); self.wfile.write(rest)
        do_GET = do_POST = handle_any
        def log_message(self, *a): pass
    ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
    """#

@Suite(.serialized) struct HTTPSourceTests {
    func start(token: String) async throws -> (url: String, stop: ChildProcess) {
        let dir = makeTemporaryDirectory("gantry-http")
        try FileManager.default.createDirectory(atPath: dir + "/work/ml", withIntermediateDirectories: true)
        try "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata: { name: d }\nspec: { source: { url: https://example.com/d.csv } }\n"
            .write(toFile: dir + "/work/ml/d.yaml", atomically: true, encoding: .utf8)
        try server.write(toFile: dir + "/server.py", atomically: true, encoding: .utf8)
        for arguments in [
            ["init", "-q", "-b", "main", "work"], ["-C", "work", "add", "-A"],
            ["-C", "work", "commit", "-qm", "Data"], ["clone", "-q", "--bare", "work", "models.git"],
        ] {
            try await git(arguments, in: dir, author: "A", email: "a@example.com")
        }
        let port = freePort()
        let child = try ChildProcess.spawn(
            ProcessSpec(
                argv: ["python3", dir + "/server.py", dir, "\(port)", token],
                environment: ProcessInfo.processInfo.environment, logPath: dir + "/server.log"))
        return ("http://127.0.0.1:\(port)/models.git", child)
    }

    @Test func aTokenByReferenceIsSentToAnHTTPRemote() async throws {
        let (url, child) = try await start(token: "s3cret-token")
        setenv("GANTRY_TEST_GIT_TOKEN", "s3cret-token", 1)
        let source = try GitSource(
            location: url, ref: "main", path: "ml", cacheDirectory: NSTemporaryDirectory() + "c-\(UUID())",
            token: SecretRef(env: "GANTRY_TEST_GIT_TOKEN"))
        var revision: Revision?
        try await eventually("the server answers", timeout: .seconds(5)) {
            revision = try source.fetch()
            return true
        }
        #expect(try #require(revision).manifests.datasets.keys.sorted() == ["d"])
        _ = await child.terminate(grace: .seconds(2))
    }

    @Test func aWrongOrMissingTokenFailsClearlyWithoutShowingTheToken() async throws {
        let (url, child) = try await start(token: "right-token")
        setenv("GANTRY_TEST_WRONG_TOKEN", "wrong-token-value", 1)
        let wrong = try GitSource(
            location: url, ref: "main", path: "", cacheDirectory: NSTemporaryDirectory() + "c-\(UUID())",
            token: SecretRef(env: "GANTRY_TEST_WRONG_TOKEN"))
        var message = ""
        // The server may take seconds to start on a busy machine.
        try await eventually("the server answers the wrong token", timeout: .seconds(10)) {
            do { _ = try wrong.fetch() } catch { message = "\(error)" }
            return message.contains("rejected")
        }
        #expect(message.contains("the server rejected the credentials for user x-access-token"), "\(message)")
        #expect(!message.contains("wrong-token-value"))

        let none = try GitSource(location: url, ref: "main", path: "", cacheDirectory: NSTemporaryDirectory() + "c-\(UUID())")
        do {
            _ = try none.fetch()
            Issue.record("a fetch without a token succeeded")
        } catch {
            #expect(
                "\(error)".contains("the server asks for credentials; give a token by reference (--token-env or --token-file)"),
                "\(error)")
        }

        let unset = try GitSource(
            location: url, ref: "main", path: "", cacheDirectory: NSTemporaryDirectory() + "c-\(UUID())",
            token: SecretRef(env: "GANTRY_TEST_UNSET_TOKEN"))
        do {
            _ = try unset.fetch()
            Issue.record("expected an error")
        } catch {
            #expect("\(error)" == "environment variable GANTRY_TEST_UNSET_TOKEN is not set")
        }
        _ = await child.terminate(grace: .seconds(2))
    }
}
