import Foundation
import GantryTestSupport
import HTTP
import Hummingbird
import Listener
import Logging
import ServiceLifecycle
import Testing

/// Raw TCP connections that send nothing: the most a slow client can do.
private struct SilentConnection {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestFailure("connect failed: errno \(errno)") }
    }

    /// Whether the server has closed its end (a read sees end of file).
    var closedByServer: Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    func close() { _ = Glibc.close(fd) }
}

@Suite(.serialized, .timeLimit(.minutes(2)))
struct ConnectionLimitTests {
    @Test func silentConnectionsAreCutOffAndThoseOverTheCapAreRefused() async throws {
        let port = freePort()
        // The head timeout is long enough that, on a loaded machine, the
        // count below is taken before it closes the first eight too.
        let limits = ConnectionLimits(maximumConnections: 8, headTimeout: .seconds(8), idleTimeout: .seconds(10))
        let router = Router()
        router.get("/ping") { _, _ in "pong\n" }
        var logger = Logger(label: "limits")
        logger.logLevel = .error
        let app = Application(
            router: router, server: limits.http1(),
            configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        let group = ServiceGroup(services: [app], logger: logger)
        let running = Task { try await group.run() }
        defer { running.cancel() }
        try await eventually("the server answers", timeout: .seconds(20)) {
            try await HTTPClient.shared.send(HTTP.HTTPRequest(url: "http://127.0.0.1:\(port)/ping")).status == 200
        }

        let silent = try (0..<20).map { _ in try SilentConnection(port: port) }
        defer { silent.forEach { $0.close() } }
        // Twelve or thirteen are over the cap (the client's pooled
        // keep-alive connection from the first request may hold a place):
        // closed as they arrive, while the others wait for their timeout.
        try await eventually("those over the cap are closed", timeout: .seconds(5)) { silent.filter(\.closedByServer).count >= 12 }
        let refused = silent.filter(\.closedByServer).count
        #expect((12...13).contains(refused), "\(refused) closed at once; the first ones are held until their head timeout")
        // The rest sent no request head in time.
        try await eventually("every silent connection is closed", timeout: .seconds(20)) { silent.allSatisfy(\.closedByServer) }
        try await eventually("no connection is open", timeout: .seconds(20)) { limits.openConnections == 0 }
        // Someone who speaks HTTP is served as before.
        #expect(try await HTTPClient.shared.send(HTTP.HTTPRequest(url: "http://127.0.0.1:\(port)/ping")).text == "pong\n")
        await group.triggerGracefulShutdown()
    }
}
