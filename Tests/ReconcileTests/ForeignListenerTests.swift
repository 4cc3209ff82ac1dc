import Foundation
import GantryTestSupport
import Glibc
import Testing

@testable import Lineage
@testable import Processes
@testable import Targets

/// A local server is judged healthy by a probe of its port, and the answer
/// counts only when the server (or its session) holds the listening socket:
/// another process that took the port first must not pass for it.
@Suite struct ForeignListenerTests {
    static let server = """
        import sys
        from http.server import BaseHTTPRequestHandler, HTTPServer
        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
            def log_message(self, *a): pass
        HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
        """

    func serve(_ argv: [String], in directory: String) throws -> (ProcessIdentity, String) {
        let log = directory + "/serve-\(UUID().uuidString.prefix(6)).log"
        let identity = try spawnDetached(
            ProcessSpec(argv: argv, environment: ProcessInfo.processInfo.environment, workingDirectory: directory, logPath: log))
        return (identity, log)
    }

    @Test func aPortAnsweredByAnotherProcessIsNotTheServersHealth() async throws {
        let squatter = try FaultServer { _ in .status(200, "someone else") }
        defer { squatter.stop() }
        let directory = makeTemporaryDirectory("foreign-listener")
        let driver = LocalTarget(workspace: Workspace(root: directory, executable: gantryExecutable))

        // The server cannot bind the port the squatter holds, and exits:
        // the squatter's answer does not make it healthy.
        let (loser, loserLog) = try serve(["python3", "-c", Self.server, "\(squatter.port)"], in: directory)
        defer { Task { _ = await stop(loser, grace: .seconds(1)) } }
        await #expect(throws: DriverError.self) {
            try await driver.waitHealthy(loser, port: squatter.port, check: nil, log: loserLog)
        }
        #expect(try String(contentsOfFile: loserLog, encoding: .utf8).contains("Address already in use"))

        // A server on its own port is healthy as soon as it answers.
        let port = freePort()
        let (own, ownLog) = try serve(["python3", "-c", Self.server, "\(port)"], in: directory)
        defer { Task { _ = await stop(own, grace: .seconds(1)) } }
        try await driver.waitHealthy(own, port: port, check: nil, log: ownLog)
        #expect(ListeningSockets.sessionListens(own.pid, port: port) == true)
        #expect(ListeningSockets.sessionListens(own.pid, port: squatter.port) == false, "the squatter's socket is not the server's")

        // A process that keeps running without binding (as when a proxy
        // outside its session listens for it) is believed only after the
        // grace period.
        let (quiet, quietLog) = try serve(["sleep", "30"], in: directory)
        defer { Task { _ = await stop(quiet, grace: .seconds(1)) } }
        let started = ContinuousClock.now
        try await driver.waitHealthy(quiet, port: squatter.port, check: nil, log: quietLog)
        #expect(ContinuousClock.now - started >= LocalTarget.foreignListenerGrace)
    }

    @Test func theSocketTablesAreReadByPortAndState() {
        let table = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
               1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
               2: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0
            """
        #expect(ListeningSockets.parse(table, port: 8080) == [4242], "listening only, not the connection on the same port")
        #expect(ListeningSockets.parse(table, port: 8081) == [4444])
        #expect(ListeningSockets.parse(table, port: 80).isEmpty)
    }

    /// The ports a plan's address check tries to bind: those a socket listens
    /// on. One merely bound is not in the kernel's tables.
    @Test func theHeldPortsAreTheListeningOnes() throws {
        func socketOn(_ port: Int, listening: Bool) -> Int32 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            #expect(bound == 0)
            if listening { #expect(listen(fd, 1) == 0) }
            return fd
        }
        let (listened, bound, free) = (freePort(), freePort(), freePort())
        let a = socketOn(listened, listening: true)
        let b = socketOn(bound, listening: false)
        defer {
            close(a)
            close(b)
        }
        let held = try #require(ListeningSockets.heldPorts())
        #expect(held.contains(listened) && !held.contains(free))
        #expect(!held.contains(bound), "the kernel lists a bound socket only once it listens or connects")
    }
}
