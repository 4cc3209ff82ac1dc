import CGit2
import CGitStream
import Foundation
import Glibc
import Testing

/// The TCP stream libgit2 uses for git:// and under http(s)://.
@Suite struct GitStreamTests {
    /// A socket listening on 127.0.0.1 and its port; the backlog accepts the
    /// connection without anyone calling accept.
    private func listener() throws -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(bound == 0)
        #expect(listen(fd, 4) == 0)
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &size) }
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    @Test func aConnectedStreamHasNagleOff() throws {
        let (fd, port) = try listener()
        defer { close(fd) }
        #expect(gantry_git_nodelay_probe("127.0.0.1", "\(port)") == 1)
    }

    @Test func aRefusedConnectionIsAnErrorNamingTheAddress() throws {
        let (fd, port) = try listener()
        close(fd)  // nothing listens on the port now
        #expect(gantry_git_nodelay_probe("127.0.0.1", "\(port)") < 0)
        #expect(lastError() == "cannot connect to 127.0.0.1:\(port): Connection refused")
        #expect(gantry_git_nodelay_probe("no-such-host.invalid", "9418") < 0)
        #expect(lastError().hasPrefix("cannot resolve no-such-host.invalid:9418: "))
    }

    private func lastError() -> String {
        git_error_last().map { String(cString: $0.pointee.message) } ?? "no error"
    }
}
