import Foundation
import GantryTestSupport
import HTTP
import Manifests
import Processes
import Testing

@testable import Lineage
@testable import State
@testable import Targets

/// A dataset at an HTTP URL, served by Python's http.server: it gives
/// Last-Modified and Content-Length, no ETag, as many plain file servers do.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct HTTPDatasetTests {
    @Test func touchingAFileOnALastModifiedServerChangesNothingAndAnEditChangesTheFingerprint() async throws {
        let served = makeTemporaryDirectory("served")
        let file = served + "/rows.csv"
        try "x,y\n1,2\n".write(toFile: file, atomically: true, encoding: .utf8)
        let port = freePort()
        let log = served + "/../http-\(port).log"
        let server = try ChildProcess.spawn(
            ProcessSpec(
                argv: ["python3", "-m", "http.server", "\(port)", "--bind", "127.0.0.1", "--directory", served],
                environment: ProcessInfo.processInfo.environment, logPath: log))
        defer { Task { _ = await server.terminate(grace: .seconds(2)) } }
        let url = "http://127.0.0.1:\(port)/rows.csv"
        let store = try StateStore(directory: makeTemporaryDirectory("state"))
        let fingerprinter = Fingerprinter(store: store)
        func gets() throws -> Int {
            try String(contentsOfFile: log, encoding: .utf8).components(separatedBy: "\"GET /rows.csv").count - 1
        }

        var first = ""
        try await eventually("the server answers", timeout: .seconds(30)) {
            first = try await fingerprinter.fingerprint(url: url, dataset: "rows")
            return true
        }
        #expect(first == "sha256:" + Digest.sha256("x,y\n1,2\n"), "the content is hashed: the server gives no ETag")
        let downloads = try gets()
        #expect(try await fingerprinter.fingerprint(url: url, dataset: "rows") == first)
        #expect(try gets() == downloads, "unchanged Last-Modified and length: nothing is downloaded again")

        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(120)], ofItemAtPath: file)
        #expect(try await fingerprinter.fingerprint(url: url, dataset: "rows") == first, "touch alone changes no fingerprint")
        #expect(try gets() == downloads + 1)

        try "x,y\n1,2\n3,4\n".write(toFile: file, atomically: true, encoding: .utf8)
        let edited = try await fingerprinter.fingerprint(url: url, dataset: "rows")
        #expect(edited == "sha256:" + Digest.sha256("x,y\n1,2\n3,4\n"))
        _ = await server.terminate(grace: .seconds(2))
    }

    @Test func aChangeReasonShowsAnETagOrATimeInFullAndAHashShortened() {
        let hash = "sha256:" + String(repeating: "ab", count: 32)
        #expect(Lineage.short(hash) == "sha256:abababababab")
        #expect(Lineage.short("git:0123456789abcdef0123") == "git:0123456789ab")
        #expect(Lineage.short(#"etag:"5f3a-61c2b9e4d1a80""#) == #"etag:"5f3a-61c2b9e4d1a80""#)
        let stamp = "modified:Mon, 07 Dec 2026 10:15:00 GMT;size:2048"
        #expect(Lineage.short(stamp) == stamp)
    }

    @Test func aBodyLongerThanTheLimitEndsTheTransfer() async throws {
        let server = try FaultServer { _ in .status(200, String(repeating: "x", count: 100_000)) }
        var request = HTTPRequest(url: server.endpoint + "/data.csv")
        request.maximumBodyBytes = 1000
        await #expect(throws: HTTPError.self) { try await HTTPClient.shared.send(request) }
        request.maximumBodyBytes = 200_000
        #expect(try await HTTPClient.shared.send(request).body.count == 100_000)
    }
}
