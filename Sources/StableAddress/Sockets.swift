import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Picks a loopback port nobody is listening on, for a new serving process to
/// bind. The port is released before returning, so another process could in
/// principle grab it first; the serving process's own bind is what decides.
///
/// Ports come from 20000-29999, below the kernel's ephemeral range: the
/// kernel hands ephemeral ports to every outgoing connection and every
/// `bind(port: 0)`, so a port picked there can be taken by the controller's
/// own fetches and probes in the moment before the server binds it. Picks
/// rotate through the range from a random start, so two picks in one process
/// never repeat until the range wraps.
///
/// ```swift
/// let port = try freeLoopbackPort()
/// let backend = Endpoint(host: "127.0.0.1", port: port)
/// ```
public func freeLoopbackPort() throws -> UInt16 {
    if let range = PortPicker.range {
        for _ in 0..<64 {
            let port = PortPicker.next(in: range)
            if (try? Sockets.bindLoopback(port: port)) != nil { return port }
        }
    }
    return try Sockets.bindLoopback(port: 0)
}

/// A free loopback port from `range`, from a rotation of its own: for a
/// caller that keeps ports apart from the ones `freeLoopbackPort` hands
/// out (the tests reserve addresses in a range Gantry's processes do not
/// pick from, `GANTRY_PORT_RANGE`).
public func freeLoopbackPort(in range: Range<UInt16>) throws -> UInt16 {
    for _ in 0..<64 {
        let port = PortPicker.nextReserved(in: range)
        if (try? Sockets.bindLoopback(port: port)) != nil { return port }
    }
    return try Sockets.bindLoopback(port: 0)
}

/// Why nothing could listen on `address` now (another process holds it),
/// or nil when it is free. A check, not a reservation: the address is
/// released again before returning.
public func listenProblem(_ address: Endpoint) -> String? {
    do {
        let (fd, _) = try Sockets.listen(on: address, backlog: 1)
        close(fd)
        return nil
    } catch {
        return "\(error)"
    }
}

/// The rotating cursor behind `freeLoopbackPort`.
enum PortPicker {
    /// Ports 20000-29999: above Ray's default worker ports (10002-19999),
    /// below Kubernetes' NodePort range (30000-32767) and the kernel's
    /// ephemeral range (32768 and up on Linux by default). Cut short when the
    /// ephemeral range starts lower; nil when that leaves no room.
    /// `GANTRY_PORT_RANGE=LOW-HIGH` (inclusive) narrows it, for an
    /// operator who opens only some ports, and for the tests.
    static let range: Range<UInt16>? = {
        if let given = ProcessInfo.processInfo.environment["GANTRY_PORT_RANGE"], let range = parse(given) { return range }
        let top = min(30_000, ephemeralLow() ?? 32_768)
        return top > 21_000 ? 20_000..<UInt16(top) : nil
    }()
    private static let cursor = Mutex<Int>(Int.random(in: 0..<65_536))
    private static let reservedCursor = Mutex<Int>(Int.random(in: 0..<65_536))

    /// `LOW-HIGH`, both ports, LOW at most HIGH; nil otherwise.
    static func parse(_ text: String) -> Range<UInt16>? {
        let parts = text.split(separator: "-").map { UInt16($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let low = parts[0], let high = parts[1], low > 0, low <= high, high < UInt16.max else { return nil }
        return low..<(high + 1)
    }

    static func nextReserved(in range: Range<UInt16>) -> UInt16 {
        let offset = reservedCursor.withLock { c in
            c += 1
            return c
        }
        return range.lowerBound + UInt16(offset % range.count)
    }

    static func next(in range: Range<UInt16>) -> UInt16 {
        let offset = cursor.withLock { c in
            c += 1
            return c
        }
        return range.lowerBound + UInt16(offset % range.count)
    }

    private static func ephemeralLow() -> Int? {
        let fd = open("/proc/sys/net/ipv4/ip_local_port_range", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &buffer, buffer.count)
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[..<n], as: UTF8.self)
        return text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) }
    }
}

/// Thin wrappers over the BSD socket calls: every descriptor is close-on-exec
/// because the controller spawns model servers, and a leaked listening socket
/// in a child would keep the stable address bound after the forwarder exits.
enum Sockets {
    static func tcpSocket() throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StableAddressError.system(operation: "socket", errno: errno) }
        return fd
    }

    /// Binds 127.0.0.1:`port` (0 lets the kernel choose), closes, and returns
    /// the port bound; throws when it is taken.
    static func bindLoopback(port: UInt16) throws -> UInt16 {
        let fd = try tcpSocket()
        defer { close(fd) }
        var addr = try address(Endpoint(host: "127.0.0.1", port: port))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { throw StableAddressError.system(operation: "bind 127.0.0.1:\(port)", errno: errno) }
        return try localEndpoint(of: fd).port
    }

    static func address(_ e: Endpoint) throws -> sockaddr_in {
        guard let ip = Endpoint.ipv4Address(e.host) else { throw StableAddressError.invalidAddress(e.host) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = e.port.bigEndian
        addr.sin_addr = ip
        return addr
    }

    static func localEndpoint(of fd: Int32) throws -> Endpoint {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard rc == 0 else { throw StableAddressError.system(operation: "getsockname", errno: errno) }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        inet_ntop(AF_INET, &addr.sin_addr, &text, socklen_t(text.count))
        let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return Endpoint(host: host, port: UInt16(bigEndian: addr.sin_port))
    }

    /// Binds and listens. SO_REUSEADDR lets a restarted forwarder take the
    /// address back while old connections sit in TIME_WAIT; Linux still refuses
    /// the bind while another socket is listening, which is what we want.
    static func listen(on e: Endpoint, backlog: Int32 = 512) throws -> (fd: Int32, bound: Endpoint) {
        var addr = try address(e)
        let fd = try tcpSocket()
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            let code = errno
            close(fd)
            if code == EADDRINUSE { throw StableAddressError.addressInUse(e) }
            throw StableAddressError.system(operation: "bind \(e)", errno: code)
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let code = errno
            close(fd)
            if code == EADDRINUSE { throw StableAddressError.addressInUse(e) }
            throw StableAddressError.system(operation: "listen \(e)", errno: code)
        }
        do {
            return (fd, try localEndpoint(of: fd))
        } catch {
            close(fd)
            throw error
        }
    }

    /// Connects with a deadline so an unreachable backend ties up one thread
    /// for a bounded time instead of the kernel's multi-minute SYN retry.
    /// The returned descriptor is blocking again.
    static func connect(to e: Endpoint, timeoutMilliseconds: Int32) throws -> Int32 {
        var addr = try address(e)
        let fd = try tcpSocket()
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            let code = errno
            guard code == EINPROGRESS || code == EINTR else {
                close(fd)
                throw StableAddressError.system(operation: "connect \(e)", errno: code)
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            var ready: Int32
            repeat { ready = poll(&pfd, 1, timeoutMilliseconds) } while ready < 0 && errno == EINTR
            guard ready > 0 else {
                close(fd)
                throw StableAddressError.timedOut("connect \(e)")
            }
            var soError: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
            guard soError == 0 else {
                close(fd)
                throw StableAddressError.system(operation: "connect \(e)", errno: soError)
            }
        }
        _ = fcntl(fd, F_SETFL, flags)
        return fd
    }

    static func setCloseOnExec(_ fd: Int32) {
        _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
    }

    /// Request/response traffic is latency bound; Nagle would hold back the
    /// tail of every response for a delayed ACK.
    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// MSG_NOSIGNAL: a peer that vanished must surface as EPIPE here, not as a
    /// SIGPIPE that kills the whole forwarder.
    static func sendAll(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Bool {
        var offset = 0
        while offset < count {
            let n = send(fd, buffer + offset, count - offset, Int32(MSG_NOSIGNAL))
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return false
            }
        }
        return true
    }
}

private final class ThreadBody {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// Starts an OS thread. Connection pumps block in read/write, so they must not
/// run on the Swift concurrency pool (two threads on a two-core machine). An
/// explicit 1 MiB stack, instead of the 8 MiB default, keeps a few hundred of
/// them cheap in address space.
@discardableResult
func spawnThread(joinable: Bool = false, _ body: @escaping @Sendable () -> Void) throws -> pthread_t {
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    defer { pthread_attr_destroy(&attr) }
    pthread_attr_setstacksize(&attr, 1 << 20)
    pthread_attr_setdetachstate(
        &attr, Int32(joinable ? PTHREAD_CREATE_JOINABLE : PTHREAD_CREATE_DETACHED))
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, &attr,
        { raw in
            let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
            body.run()
            return nil
        }, context)
    guard rc == 0 else {
        Unmanaged<ThreadBody>.fromOpaque(context).release()
        throw StableAddressError.system(operation: "pthread_create", errno: rc)
    }
    return thread
}

/// Diagnostics go straight to descriptor 2: the forwarder runs detached with
/// stderr redirected to a log file, and unbuffered writes survive a kill.
func logLine(_ message: String) {
    let line = "gantry-forwarder[\(getpid())]: \(message)\n"
    var bytes = Array(line.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

extension Endpoint {
    /// Whether something already listens here: a bind of it fails with
    /// "address in use". Nothing is left bound.
    public var isInUse: Bool {
        do {
            let (fd, _) = try Sockets.listen(on: self, backlog: 1)
            close(fd)
            return false
        } catch StableAddressError.addressInUse {
            return true
        } catch {
            return false
        }
    }
}
