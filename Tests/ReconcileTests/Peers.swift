import Foundation
import GantryTestSupport
import HTTP
import Processes

@testable import Lineage
@testable import S3
@testable import Targets

/// Real peers for the tests, installed by `scripts/peers` into a venv
/// outside the repository. A missing peer fails the test that needs it, with
/// the way to install it: a skipped test would pass without testing.
enum Peers {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// `GANTRY_PEERS_VENV` (exported by `scripts/test`), else the default.
    static var venv: String {
        if let venv = environment["GANTRY_PEERS_VENV"], !venv.isEmpty { return venv }
        return NSHomeDirectory() + "/.cache/gantry-peers/venv"
    }

    static let howToInstall = "run scripts/peers (it installs moto[server], papermill and ipykernel into ~/.cache/gantry-peers/venv)"

    /// `GANTRY_MOTO_SERVER`, else the venv's (what scripts/peers installs),
    /// else `moto_server` on PATH.
    static func motoServer() throws -> String {
        if let given = environment["GANTRY_MOTO_SERVER"], !given.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: given) else {
                throw PeerError(description: "GANTRY_MOTO_SERVER=\(given) is not an executable; unset it or \(howToInstall)")
            }
            return given
        }
        let candidates = [venv + "/bin/moto_server"] + (environment["PATH"] ?? "").split(separator: ":").map { "\($0)/moto_server" }
        if let found = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) { return found }
        throw PeerError(description: "moto_server not found (GANTRY_MOTO_SERVER, PATH, \(venv)/bin): \(howToInstall), or set GANTRY_MOTO_SERVER")
    }
}

extension Peers {
    /// The python with papermill and a kernel that the tests name in
    /// their Pipelines (`notebook.python`): `GANTRY_PAPERMILL_PYTHON`, else
    /// the peers venv's, checked to have papermill.
    static func papermillPython() async throws -> String {
        let given = environment["GANTRY_PAPERMILL_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }
        let python = given ?? venv + "/bin/python"
        let probe = try? await runCommand([python, "-c", "import papermill, ipykernel"], environment: environment, timeout: .seconds(60))
        guard probe?.status.succeeded == true else {
            throw PeerError(
                description: "\(python) cannot import papermill and ipykernel: \(howToInstall), or set GANTRY_PAPERMILL_PYTHON to a python that has them")
        }
        return python
    }
}

/// A peer that is missing or misbehaves, with what to do about it.
struct PeerError: Error, CustomStringConvertible {
    var description: String
}

/// A moto server on 127.0.0.1 standing in for S3. moto picks the service
/// from the SigV4 credential scope and does not check signatures.
final class MotoServer: @unchecked Sendable {
    static let accessKey = "AKIAGANTRYTEST"
    static let secret = "moto-secret/value+with=symbols"

    let endpoint: String
    let child: ChildProcess
    let log: String

    private init(endpoint: String, child: ChildProcess, log: String) {
        self.endpoint = endpoint
        self.child = child
        self.log = log
    }

    static func start() async throws -> MotoServer {
        let executable = try Peers.motoServer()
        let port = freePort()
        // Its own directory: moto writes its request recording to the
        // working directory.
        let directory = makeTemporaryDirectory("moto")
        let log = directory + "/moto.log"
        let child = try ChildProcess.spawn(
            ProcessSpec(
                argv: [executable, "-H", "127.0.0.1", "-p", "\(port)"],
                environment: Peers.environment, workingDirectory: directory, logPath: log))
        let server = MotoServer(endpoint: "http://127.0.0.1:\(port)", child: child, log: log)
        let deadline = ContinuousClock.now + .seconds(60)  // a loaded 2-core machine starts it slowly
        while ContinuousClock.now < deadline {
            if child.exitStatus != nil { break }
            if (try? await HTTPClient.shared.send(HTTPRequest(url: server.endpoint + "/moto-api/", timeout: .seconds(1)))) != nil {
                return server
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        _ = await child.terminate(grace: .seconds(2))
        throw PeerError(description: "moto_server (\(executable)) did not answer on port \(port): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    func stop() async { _ = await child.terminate(grace: .seconds(5)) }

    /// Runs `body` against a moto server of its own, stopped afterwards
    /// whether `body` throws or not.
    static func with(_ body: (MotoServer) async throws -> Void) async throws {
        let moto = try await start()
        do { try await body(moto) } catch {
            await moto.stop()
            throw error
        }
        await moto.stop()
    }

    struct RecordedRequest: Decodable {
        var method: String
        var url: String
        var headers: [String: String]
    }

    /// From now on moto records every request it receives, headers included.
    func startRecording() async throws {
        _ = try await HTTPClient.shared.send(HTTPRequest(method: "POST", url: endpoint + "/moto-api/recorder/start-recording"))
    }

    func recording() async throws -> [RecordedRequest] {
        let response = try await HTTPClient.shared.send(HTTPRequest(url: endpoint + "/moto-api/recorder/download-recording"))
        return try response.text.split(separator: "\n").map { try JSONDecoder().decode(RecordedRequest.self, from: Data($0.utf8)) }
    }

    var auth: HTTPAuth { .awsSigV4(region: "us-east-1", service: "s3", accessKey: Self.accessKey, secret: Self.secret) }

    /// A signed PUT, as any S3 client would send it. The Content-Type keeps
    /// libcurl from sending the body as a form.
    @discardableResult
    func put(_ path: String, _ body: String = "") async throws -> HTTPResponse {
        let bytes = Array(body.utf8)
        let response = try await HTTPClient.shared.send(
            HTTPRequest(
                method: "PUT", url: url(path),
                headers: [("Content-Type", "application/octet-stream"), ("x-amz-content-sha256", Digest.sha256(bytes))],
                body: bytes, auth: auth))
        guard response.status == 200 else { throw PeerError(description: "PUT \(path) answered \(response.status): \(response.text)") }
        return response
    }

    func delete(_ path: String) async throws {
        let response = try await HTTPClient.shared.send(
            HTTPRequest(
                method: "DELETE", url: url(path),
                headers: [("x-amz-content-sha256", Digest.sha256([UInt8]()))], auth: auth))
        guard response.status == 204 else { throw PeerError(description: "DELETE \(path) answered \(response.status)") }
    }

    /// `bucket/key` as a URL, each segment encoded.
    func url(_ path: String) -> String {
        endpoint + "/" + path.split(separator: "/", omittingEmptySubsequences: false).map { S3Bucket.encode(String($0)) }.joined(separator: "/")
    }

    /// Secret references to the test credentials, through files, so no test
    /// changes the process environment that other tests share.
    func credentialFiles() -> (accessKeyId: String, secretAccessKey: String) {
        let directory = makeTemporaryDirectory("moto-credentials")
        try! Self.accessKey.write(toFile: directory + "/access-key-id", atomically: true, encoding: .utf8)
        try! Self.secret.write(toFile: directory + "/secret-access-key", atomically: true, encoding: .utf8)
        return (directory + "/access-key-id", directory + "/secret-access-key")
    }
}
