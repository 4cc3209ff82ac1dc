import Foundation
import Synchronization

@testable import StableAddress

#if canImport(Glibc)
    import Glibc
#endif

/// Runs blocking socket work on its own OS thread so the test's async context
/// (and the small concurrency pool) never waits in recv.
func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        do {
            try spawnThread { continuation.resume(returning: body()) }
        } catch {
            fatalError("cannot start test thread: \(error)")
        }
    }
}

func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// A real TCP server on 127.0.0.1 with one thread per connection.
final class TestBackend: Sendable {
    enum Behavior: Sendable {
        /// Echoes bytes until EOF, then half-closes.
        case echo
        /// Answers each line `x` with `tag:x`.
        case taggedLines(String)
        /// Answers one HTTP request with a 200 whose body is the tag, then closes.
        case http(String)
        /// Answers HTTP/1.1 requests on a kept-alive connection with the tag;
        /// every `failEvery`-th request of the backend (0: none) gets a 500.
        case keepAlive(String, failEvery: Int)
    }

    let endpoint: Endpoint
    private let behavior: Behavior
    private let listenFD: Int32
    private let stopped = Atomic<Bool>(false)
    private let connections = Mutex<Set<Int32>>([])
    private let acceptThread = Mutex<pthread_t?>(nil)
    /// Requests a `.keepAlive` backend has answered.
    let answered = Atomic<Int>(0)

    init(_ behavior: Behavior) throws {
        let (fd, bound) = try Sockets.listen(on: Endpoint(host: "127.0.0.1", port: 0))
        self.listenFD = fd
        self.endpoint = bound
        self.behavior = behavior
        let thread = try spawnThread(joinable: true) { self.acceptLoop() }
        acceptThread.withLock { $0 = thread }
    }

    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if let thread = acceptThread.withLock({ $0 }) { pthread_join(thread, nil) }
        close(listenFD)
        connections.withLock { open in
            for fd in open { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    private func acceptLoop() {
        var pfd = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
        while !stopped.load(ordering: .acquiring) {
            guard poll(&pfd, 1, 50) > 0 else { continue }
            let fd = accept(listenFD, nil, nil)
            guard fd >= 0 else { continue }
            Sockets.setCloseOnExec(fd)
            connections.withLock { _ = $0.insert(fd) }
            do {
                try spawnThread { self.handle(fd) }
            } catch {
                finish(fd)
            }
        }
    }

    private func finish(_ fd: Int32) {
        connections.withLock { _ = $0.remove(fd) }
        close(fd)
    }

    private func handle(_ fd: Int32) {
        defer { finish(fd) }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var pending: [UInt8] = []
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            switch behavior {
            case .echo:
                guard sendBytes(fd, Array(buffer[0..<n])) else { return }
            case .taggedLines(let tag):
                pending.append(contentsOf: buffer[0..<n])
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    guard sendBytes(fd, Array("\(tag):\(line)\n".utf8)) else { return }
                }
            case .http(let tag):
                pending.append(contentsOf: buffer[0..<n])
                if String(decoding: pending, as: UTF8.self).contains("\r\n\r\n") {
                    let response =
                        "HTTP/1.1 200 OK\r\nContent-Length: \(tag.utf8.count)\r\n"
                        + "Connection: close\r\n\r\n\(tag)"
                    _ = sendBytes(fd, Array(response.utf8))
                    return
                }
            case .keepAlive(let tag, let failEvery):
                pending.append(contentsOf: buffer[0..<n])
                while let end = pending.firstRange(of: Array("\r\n\r\n".utf8)) {
                    pending.removeSubrange(..<end.upperBound)
                    let number = answered.add(1, ordering: .relaxed).newValue
                    let status = failEvery > 0 && number % failEvery == 0 ? "500 Internal Server Error" : "200 OK"
                    let response = "HTTP/1.1 \(status)\r\nContent-Length: \(tag.utf8.count)\r\n\r\n\(tag)"
                    guard sendBytes(fd, Array(response.utf8)) else { return }
                }
            }
        }
        shutdown(fd, Int32(SHUT_WR))
    }
}

func sendBytes(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { Sockets.sendAll(fd, $0.baseAddress!, $0.count) }
}

/// How a read that waited for the peer to finish ended.
enum ReadEnd: Equatable, Sendable {
    case eof
    case reset
    case timedOut
    case failed(Int32)
}

/// A blocking client socket with a receive timeout, so a forwarder bug shows
/// up as a failed expectation rather than a hung test run.
final class TestClient: Sendable {
    /// -1 once closed, so a second `close()` (say an explicit one plus a
    /// `defer`) cannot close a descriptor number another test has reused.
    private let descriptor: Atomic<Int32>
    var fd: Int32 { descriptor.load(ordering: .acquiring) }

    init(_ endpoint: Endpoint, receiveTimeoutSeconds: Int = 10) throws {
        let fd = try Sockets.connect(to: endpoint, timeoutMilliseconds: 5000)
        var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        descriptor = Atomic(fd)
    }

    func send(_ text: String) -> Bool { sendBytes(fd, Array(text.utf8)) }

    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    func close() {
        let fd = descriptor.exchange(-1, ordering: .acquiringAndReleasing)
        if fd >= 0 { Glibc.close(fd) }
    }

    /// Reads one `\n`-terminated line (without the newline); nil on EOF or error.
    func readLine() -> String? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = recv(fd, &byte, 1, 0)
            if n < 0 && errno == EINTR { continue }
            guard n == 1 else { return nil }
            if byte == 0x0A { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
    }

    func readToEnd() -> (bytes: [UInt8], end: ReadEnd) {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                result.append(contentsOf: buffer[0..<n])
                continue
            }
            if n == 0 { return (result, .eof) }
            switch errno {
            case EINTR: continue
            case ECONNRESET: return (result, .reset)
            case EAGAIN, EWOULDBLOCK: return (result, .timedOut)
            case let code: return (result, .failed(code))
            }
        }
    }
}

/// One request/response over a fresh connection through `endpoint`; returns
/// the response body, or a description of what went wrong.
func httpExchange(_ endpoint: Endpoint) -> Result<String, ExchangeFailure> {
    let client: TestClient
    do { client = try TestClient(endpoint) } catch {
        return .failure(ExchangeFailure(reason: "connect: \(error)"))
    }
    defer { client.close() }
    guard client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n") else {
        return .failure(ExchangeFailure(reason: "send failed: errno \(errno)"))
    }
    let (bytes, end) = client.readToEnd()
    let text = String(decoding: bytes, as: UTF8.self)
    guard end == .eof, text.hasPrefix("HTTP/1.1 200 OK\r\n"),
        let split = text.range(of: "\r\n\r\n")
    else {
        return .failure(ExchangeFailure(reason: "bad response (\(end)): \(text.debugDescription)"))
    }
    return .success(String(text[split.upperBound...]))
}

struct ExchangeFailure: Error, Sendable {
    let reason: String
}

/// An HTTP/1.1 client on one kept-alive connection.
final class KeepAliveClient: Sendable {
    let connection: TestClient

    init(_ endpoint: Endpoint) throws { connection = try TestClient(endpoint) }

    /// One GET; the status code and body, or nil when the connection failed.
    func get(_ path: String = "/") -> (status: Int, body: String)? {
        guard connection.send("GET \(path) HTTP/1.1\r\nHost: test\r\n\r\n") else { return nil }
        var head: [UInt8] = []
        while !head.ends(with: Array("\r\n\r\n".utf8)) {
            var byte: UInt8 = 0
            guard recv(connection.fd, &byte, 1, 0) == 1 else { return nil }
            head.append(byte)
        }
        let text = String(decoding: head, as: UTF8.self)
        let fields = text.split(separator: " ")
        guard fields.count > 1, let status = Int(fields[1]),
            let line = text.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }),
            let length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces))
        else { return nil }
        var body = [UInt8](repeating: 0, count: length)
        var got = 0
        while got < length {
            let n = body.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress! + got, length - got, 0) }
            guard n > 0 else { return nil }
            got += n
        }
        return (status, String(decoding: body, as: UTF8.self))
    }

    func close() { connection.close() }
}

extension Array where Element: Equatable {
    func ends(with suffix: [Element]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
