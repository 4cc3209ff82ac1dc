import Foundation
import GantryTestSupport
import Testing

@testable import StableAddress

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct EndpointTests {
    @Test func parsesIPv4AndNormalisesLocalhost() throws {
        let e = try #require(Endpoint(parsing: " 127.0.0.1:8700\n"))
        #expect(e == Endpoint(host: "127.0.0.1", port: 8700))
        #expect(e.description == "127.0.0.1:8700")
        #expect(Endpoint(parsing: "localhost:8700") == e)
        #expect(Endpoint(parsing: "0.0.0.0:65535")?.port == 65535)
    }

    @Test(arguments: [
        "", "127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:0", "127.0.0.1:65536",
        "127.0.0.1:-1", "127.0.0.1:8a", "example.com:80", "1.2.3:80", "::1:80",
        "127.0.0.1:80:1", "256.0.0.1:80",
    ])
    func rejectsMalformed(_ text: String) {
        #expect(Endpoint(parsing: text) == nil)
    }

    @Test func encodesAsHostPortString() throws {
        let e = Endpoint(host: "127.0.0.1", port: 9000)
        let data = try JSONEncoder().encode([e])
        #expect(String(decoding: data, as: UTF8.self) == #"["127.0.0.1:9000"]"#)
        #expect(try JSONDecoder().decode([Endpoint].self, from: data) == [e])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([Endpoint].self, from: Data(#"["nonsense"]"#.utf8))
        }
    }

    @Test func freeLoopbackPortCanBeBound() throws {
        let port = try freeLoopbackPort()
        #expect(port != 0)
        let (fd, bound) = try Sockets.listen(on: Endpoint(host: "127.0.0.1", port: port))
        close(fd)
        #expect(bound.port == port)
    }

    /// Picks stay out of the kernel's ephemeral range, where an outgoing
    /// connection could take the port before the server binds it, and do not
    /// repeat within a process.
    @Test func freeLoopbackPortsAvoidTheEphemeralRangeAndDoNotRepeat() throws {
        let range = try #require(PortPicker.range)
        let picks = try (0..<500).map { _ in try freeLoopbackPort() }
        #expect(picks.allSatisfy { range.contains($0) })
        #expect(Set(picks).count == picks.count)
    }

    /// `GANTRY_PORT_RANGE` is LOW-HIGH, both included; anything else is
    /// ignored (the default range stands).
    @Test func aPortRangeIsReadInclusiveAndNonsenseIsIgnored() throws {
        #expect(PortPicker.parse("25000-29999") == 25_000..<30_000)
        #expect(PortPicker.parse(" 8000 - 8000 ") == 8_000..<8_001)
        for bad in ["", "25000", "30000-20000", "0-10", "a-b", "1-2-3", "20000-65535"] {
            #expect(PortPicker.parse(bad) == nil, "\(bad)")
        }
        let reserved = try (0..<100).map { _ in try freeLoopbackPort(in: 21_000..<21_100) }
        #expect(Set(reserved).count == 100 && reserved.allSatisfy { (21_000..<21_100).contains($0) })
    }
}

@Suite struct ForwarderControlTests {
    @Test func setBackendReplacesFileWithOneLine() throws {
        let root = makeTemporaryDirectory()
        defer { removeDirectory(root) }
        let dir = root + "/nested/forwarder"
        let control = ForwarderControl(directory: dir)
        #expect(control.backend() == nil)
        #expect(control.status() == nil)

        let first = Endpoint(host: "127.0.0.1", port: 4001)
        let second = Endpoint(host: "127.0.0.1", port: 4002)
        try control.setBackend(first)
        #expect(control.backend() == first)
        let before = try #require(ControlFiles.signature(control.backendPath))
        try control.setBackend(second)
        #expect(control.backend() == second)
        #expect(ControlFiles.signature(control.backendPath) != before)

        let contents = try String(contentsOfFile: control.backendPath, encoding: .utf8)
        #expect(contents == "127.0.0.1:4002\n")
        // Only the final file remains: no temporary files leak into the directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["backend"])
    }

    @Test func waitUntilServingTimesOutWithoutForwarder() async throws {
        let dir = makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let control = ForwarderControl(directory: dir)
        let target = Endpoint(host: "127.0.0.1", port: 4100)
        try control.setBackend(target)
        await #expect(throws: StableAddressError.self) {
            try await control.waitUntilServing(target, timeout: .milliseconds(200))
        }
        #expect(await control.drain(target, timeout: .milliseconds(100)) == 0)
    }

    @Test func statusRoundTripsThroughDisk() throws {
        let dir = makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let control = ForwarderControl(directory: dir)
        let status = ForwarderStatus(
            pid: getpid(), listen: Endpoint(host: "127.0.0.1", port: 8700),
            backend: Endpoint(host: "127.0.0.1", port: 4001),
            open: ["127.0.0.1:4001": 3], accepted: 7)
        try control.writeStatus(status)
        let read = try #require(control.status())
        #expect(read == status)
        #expect(read.openConnections(to: Endpoint(host: "127.0.0.1", port: 4001)) == 3)
        #expect(read.openConnections(to: Endpoint(host: "127.0.0.1", port: 4002)) == 0)
        #expect(read.isProcessRunning)
    }
}
