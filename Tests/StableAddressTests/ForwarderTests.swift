import Foundation
import GantryTestSupport
import Testing

@testable import StableAddress

#if canImport(Glibc)
    import Glibc
#endif

/// Starts a forwarder on an ephemeral loopback port with `backend` configured.
func startForwarder(backend: Endpoint?) throws -> (RunningForwarder, ForwarderControl, String) {
    let dir = makeTemporaryDirectory()
    let control = ForwarderControl(directory: dir)
    if let backend { try control.setBackend(backend) }
    // A picked port, not port 0: an ephemeral port may have just belonged to
    // another test's backend, and that test's forwarder would still connect
    // to it, adding connections this test never made.
    let forwarder = try Forwarder.start(listen: Endpoint(host: "127.0.0.1", port: try freeLoopbackPort()), control: control)
    return (forwarder, control, dir)
}

@Suite(.serialized, .timeLimit(.minutes(1)))
struct ForwarderTests {
    @Test func bytesRoundTripWithHalfClose() async throws {
        let echo = try TestBackend(.echo)
        defer { echo.stop() }
        let (forwarder, control, dir) = try startForwarder(backend: echo.endpoint)
        defer {
            forwarder.stop()
            removeDirectory(dir)
        }
        #expect(forwarder.endpoint.port != 0)

        // Larger than socket buffers in both directions, so this only passes if
        // the forwarder pumps both ways at once.
        let payload = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let client = try TestClient(forwarder.endpoint)
        defer { client.close() }
        try spawnThread {
            _ = sendBytes(client.fd, payload)
            // The echo backend only finishes after seeing EOF, so the reply can
            // only end if the forwarder passes the half-close through.
            client.shutdownWrite()
        }
        let (received, end) = await blocking { client.readToEnd() }
        #expect(end == .eof)
        #expect(received.count == payload.count)
        #expect(received == payload)

        let status = try #require(control.status())
        #expect(status.pid == getpid())
        #expect(status.listen == forwarder.endpoint)
        #expect(status.backend == echo.endpoint)
        #expect(status.accepted == 1)
    }

    @Test func refusedBackendClosesClientPromptly() async throws {
        let nobody = Endpoint(host: "127.0.0.1", port: try freeLoopbackPort())
        let (forwarder, control, dir) = try startForwarder(backend: nobody)
        defer {
            forwarder.stop()
            removeDirectory(dir)
        }

        let client = try TestClient(forwarder.endpoint, receiveTimeoutSeconds: 10)
        defer { client.close() }
        _ = client.send("GET / HTTP/1.1\r\n\r\n")
        let (bytes, end) = await blocking { client.readToEnd() }
        #expect(end == .eof || end == .reset, "client was left hanging: \(end)")
        #expect(bytes.isEmpty)
        #expect(await control.drain(nobody, timeout: .seconds(10)) == 0)

        // The failure is per connection: once a live backend is configured,
        // the same forwarder serves again.
        let echo = try TestBackend(.taggedLines("live"))
        defer { echo.stop() }
        try control.setBackend(echo.endpoint)
        try await control.waitUntilServing(echo.endpoint, timeout: .seconds(10))
        let reply = await blocking { () -> String? in
            guard let c = try? TestClient(forwarder.endpoint) else { return nil }
            defer { c.close() }
            return c.send("ping\n") ? c.readLine() : nil
        }
        #expect(reply == "live:ping")
    }

    @Test func missingBackendFileClosesClient() async throws {
        let (forwarder, control, dir) = try startForwarder(backend: nil)
        defer {
            forwarder.stop()
            removeDirectory(dir)
        }
        #expect(control.status()?.backend == nil)
        let client = try TestClient(forwarder.endpoint)
        defer { client.close() }
        let (_, end) = await blocking { client.readToEnd() }
        #expect(end == .eof || end == .reset)
        try await eventually("the forwarder counted the connection", timeout: .seconds(10)) { control.status()?.accepted == 1 }
    }

    @Test func bindingAnAddressInUseNamesIt() throws {
        let (first, _, dir) = try startForwarder(backend: nil)
        defer {
            first.stop()
            removeDirectory(dir)
        }
        let other = ForwarderControl(directory: makeTemporaryDirectory())
        defer { removeDirectory(other.directory) }
        do {
            let second = try Forwarder.start(listen: first.endpoint, control: other)
            second.stop()
            Issue.record("second bind of \(first.endpoint) succeeded")
        } catch let error as StableAddressError {
            #expect(error == .addressInUse(first.endpoint))
            #expect("\(error)".contains("127.0.0.1:\(first.endpoint.port)"))
            #expect(error.localizedDescription.contains("127.0.0.1:\(first.endpoint.port)"))
        }
    }

    @Test func stopReleasesAddressAndRemovesStatus() async throws {
        let echo = try TestBackend(.taggedLines("x"))
        defer { echo.stop() }
        let (forwarder, control, dir) = try startForwarder(backend: echo.endpoint)
        defer { removeDirectory(dir) }
        let held = try TestClient(forwarder.endpoint)
        defer { held.close() }
        #expect(held.send("a\n"))
        #expect(await blocking { held.readLine() } == "x:a")

        forwarder.stop()
        #expect(control.status() == nil)
        // The open connection was cut rather than left dangling.
        let (_, end) = await blocking { held.readToEnd() }
        #expect(end == .eof || end == .reset)
        // The stable address can be taken over again straight away.
        let again = try Forwarder.start(listen: forwarder.endpoint, control: control)
        defer { again.stop() }
        #expect(again.endpoint == forwarder.endpoint)
    }

    @Test func handlesManyConcurrentConnections() async throws {
        let backend = try TestBackend(.taggedLines("b"))
        defer { backend.stop() }
        let (forwarder, control, dir) = try startForwarder(backend: backend.endpoint)
        defer {
            forwarder.stop()
            removeDirectory(dir)
        }

        let count = 80
        var clients: [TestClient] = []
        defer { clients.forEach { $0.close() } }
        for _ in 0..<count { clients.append(try TestClient(forwarder.endpoint)) }
        // Every connection is open at once, and each one is answered.
        let snapshot = clients
        let replies = await blocking { () -> [String?] in
            for (i, c) in snapshot.enumerated() { _ = c.send("n\(i)\n") }
            return snapshot.map { $0.readLine() }
        }
        #expect(replies == (0..<count).map { "b:n\($0)" })
        try await eventually("every connection is counted open", timeout: .seconds(10)) {
            control.status()?.openConnections(to: backend.endpoint) == count
        }
        #expect(control.status()?.accepted == count)

        clients.forEach { $0.close() }
        clients.removeAll()
        #expect(await control.drain(backend.endpoint, timeout: .seconds(10)) == 0)
    }
}
