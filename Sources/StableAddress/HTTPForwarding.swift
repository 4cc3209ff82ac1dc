import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Buffered reads from one socket, for framing HTTP/1.x messages.
struct SocketReader {
    let fd: Int32
    /// Bytes read from the socket and not yet consumed.
    var pending: [UInt8] = []
    /// What each read lands in: one buffer per connection, not one per read.
    private var chunk = [UInt8](repeating: 0, count: 16 * 1024)

    init(_ fd: Int32) { self.fd = fd }

    /// Reads once more; false on EOF or an error.
    mutating func fill() -> Bool {
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                pending.append(contentsOf: chunk[0..<n])
                return true
            }
            if n < 0 && errno == EINTR { continue }
            return false
        }
    }

    /// Whether the client's first bytes are an HTTP request line (a method
    /// token and a space). Waits for them, unless `other` (the backend)
    /// speaks first, which means some other protocol.
    mutating func startsLikeHTTPRequest(otherwiseReadable other: Int32) -> Bool {
        while true {
            if let space = pending.prefix(16).firstIndex(of: 0x20) {
                return space > 0 && pending[..<space].allSatisfy { (0x41...0x5A).contains($0) }
            }
            if pending.count >= 16 || !pending.allSatisfy({ (0x41...0x5A).contains($0) }) { return false }
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: other, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return false
            }
            if fds[0].revents == 0 { return false }
            if !fill() { return false }
        }
    }

    /// One message head, through the blank line; nil on EOF, an error, or a
    /// head over `limit` bytes.
    mutating func readHead(limit: Int = 64 * 1024) -> [UInt8]? {
        var scanned = 0
        while true {
            if pending.count >= 4 {
                var i = max(0, scanned - 3)
                while i + 3 < pending.count {
                    if pending[i] == 0x0D, pending[i + 1] == 0x0A, pending[i + 2] == 0x0D, pending[i + 3] == 0x0A {
                        let head = Array(pending[..<(i + 4)])
                        pending.removeFirst(i + 4)
                        return head
                    }
                    i += 1
                }
                scanned = pending.count
            }
            if pending.count > limit || !fill() { return nil }
        }
    }

    /// One CRLF-terminated line, terminator included.
    mutating func readLine(limit: Int = 8 * 1024) -> [UInt8]? {
        while true {
            if let lf = pending.firstIndex(of: 0x0A) {
                let line = Array(pending[...lf])
                pending.removeFirst(lf + 1)
                return line
            }
            if pending.count > limit || !fill() { return nil }
        }
    }

    /// Exactly `count` bytes.
    mutating func read(exactly count: Int) -> [UInt8]? {
        while pending.count < count {
            if !fill() { return nil }
        }
        let bytes = Array(pending[..<count])
        pending.removeFirst(count)
        return bytes
    }

    /// Copies `count` bytes to `destination`; false if either side fails.
    mutating func copy(_ count: Int, to destination: Int32) -> Bool {
        var left = count
        while left > 0 {
            if pending.isEmpty, !fill() { return false }
            let n = min(left, pending.count)
            guard pending.withUnsafeBytes({ Sockets.sendAll(destination, $0.baseAddress!, n) }) else { return false }
            pending.removeFirst(n)
            left -= n
        }
        return true
    }

    /// Copies a chunked body, trailers included, to `destination`.
    mutating func copyChunked(to destination: Int32) -> Bool {
        while true {
            guard let line = readLine(), send(line, to: destination) else { return false }
            let sizeText = String(String(decoding: line, as: UTF8.self).split(separator: ";", omittingEmptySubsequences: false)[0]).trimmingWhitespace()
            guard let size = Int(sizeText, radix: 16), size >= 0 else { return false }
            if size == 0 {
                while true {
                    guard let trailer = readLine(), send(trailer, to: destination) else { return false }
                    if trailer == [0x0D, 0x0A] || trailer == [0x0A] { return true }
                }
            }
            guard copy(size, to: destination), let end = readLine(), send(end, to: destination) else { return false }
        }
    }

    /// Copies everything until the peer closes.
    mutating func copyToEnd(to destination: Int32) -> Bool {
        while true {
            if !pending.isEmpty {
                guard send(pending, to: destination) else { return false }
                pending.removeAll()
            }
            if !fill() { return true }
        }
    }
}

func send(_ bytes: [UInt8], to fd: Int32) -> Bool {
    bytes.withUnsafeBytes { Sockets.sendAll(fd, $0.baseAddress!, $0.count) }
}

/// A parsed HTTP/1.x request or response head.
struct HTTPHead {
    /// `GET`, or `HTTP/1.1` for a response.
    var first: String
    /// The request target, or the response's status code.
    var second: String
    /// The protocol version of a request, or the reason phrase.
    var third: String
    var headers: [(name: String, value: String)]

    init?(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: true).map(String.init)
        guard !lines.isEmpty else { return nil }
        let start = lines.removeFirst().split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard start.count >= 2 else { return nil }
        first = String(start[0])
        second = String(start[1])
        third = start.count > 2 ? String(start[2]) : ""
        headers = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            headers.append((line[..<colon].lowercased(), String(line[line.index(after: colon)...]).trimmingWhitespace()))
        }
    }

    func values(_ name: String) -> [String] { headers.filter { $0.name == name }.map(\.value) }

    var tokens: Set<String> {
        Set(values("connection").flatMap { $0.lowercased().split(separator: ",").map { String($0).trimmingWhitespace() } })
    }

    var chunked: Bool {
        values("transfer-encoding").last?.lowercased().split(separator: ",").last.map { String($0).trimmingWhitespace() } == "chunked"
    }

    /// Content-Length when present and valid; `.invalid` when several differ
    /// or one is not a number.
    var contentLength: Length {
        let all = Set(values("content-length"))
        guard let only = all.first else { return .absent }
        guard all.count == 1, let n = Int(only), n >= 0 else { return .invalid }
        return .bytes(n)
    }

    enum Length { case absent, invalid, bytes(Int) }

    /// Whether the connection stays open after this message (HTTP/1.1
    /// unless `close`; HTTP/1.0 only with `keep-alive`).
    func keepsAlive(version: String) -> Bool {
        if tokens.contains("close") { return false }
        return version == "HTTP/1.1" || tokens.contains("keep-alive")
    }
}

/// How the body of a message ends.
enum BodyFraming {
    case none
    case length(Int)
    case chunked
    case untilClose
}

extension RunningForwarder {
    /// Requests above this size stream to the backend instead of being read
    /// first; only a request read whole can be retried on another connection.
    static let replayableBody = 1 << 20

    /// Serves an HTTP/1.x client connection request by request. Each request
    /// goes to a backend picked by weight at that moment: a keep-alive client
    /// follows a switch at its next request, and one request never spans two
    /// backends. `first` is the backend connected at accept, which takes the
    /// first request.
    func serveHTTP(_ link: Link, client: inout SocketReader, first: (Endpoint, Int32)) {
        var pool: [Endpoint: Int32] = [first.0: first.1]
        var firstRequest = true
        defer {
            state.withLock { s in
                link.backendFD.store(-1, ordering: .releasing)
                release(link, in: &s)
                s.links[link.id] = nil
                s.version += 1
            }
            for fd in pool.values { close(fd) }
            close(link.client)
        }
        while let head = client.readHead(),
            forward(head, link: link, client: &client, pool: &pool, counted: firstRequest)
        {
            firstRequest = false
        }
    }

    /// Forwards one request and its response. Returns whether the client
    /// connection stays open for another request.
    private func forward(
        _ head: [UInt8], link: Link, client: inout SocketReader, pool: inout [Endpoint: Int32], counted: Bool
    ) -> Bool {
        guard let request = HTTPHead(head), request.third.hasPrefix("HTTP/1.") else {
            _ = send(Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8), to: link.client)
            return false
        }
        let started = ContinuousClock.now
        var framing: BodyFraming
        switch (request.chunked, request.contentLength) {
        case (true, _): framing = .chunked
        case (false, .invalid):
            _ = send(Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8), to: link.client)
            return false
        case (false, .bytes(let n)) where n > 0: framing = .length(n)
        default: framing = .none
        }
        if request.values("expect").contains(where: { $0.lowercased() == "100-continue" }) {
            guard send(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8), to: link.client) else { return false }
        }
        var message = head
        if case .length(let n) = framing, n <= Self.replayableBody {
            guard let body = client.read(exactly: n) else { return false }
            message += body
            framing = .none
        }
        let replayable = if case .none = framing { true } else { false }

        if !counted { _ = state.withLock { s in s.pick(excluding: [], now: .now).map { count(link, against: $0, in: &s) } } }
        var attempts = 0
        while true {
            attempts += 1
            guard let backend = link.counted.withLock({ $0 }) else {
                _ = send(Array("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8), to: link.client)
                return false
            }
            var fd: Int32
            var reused = false
            if let pooled = pool[backend], !Self.isStale(pooled) {
                fd = pooled
                reused = true
            } else {
                if let stale = pool.removeValue(forKey: backend) { close(stale) }
                guard let (connected, newFD) = connectCounted(link, excluding: []) else { continue }
                fd = newFD
                pool[connected] = newFD
            }
            link.backendFD.store(fd, ordering: .releasing)
            let target = link.counted.withLock { $0 }!
            var sent = send(message, to: fd)
            if sent {
                switch framing {
                case .chunked: sent = client.copyChunked(to: fd)
                case .length(let n): sent = client.copy(n, to: fd)
                case .none, .untilClose: break
                }
            }
            var backendReader = SocketReader(fd)
            var response = sent ? backendReader.readHead() : nil
            var informational: [UInt8] = []
            while let r = response, let parsed = HTTPHead(r), let code = Int(parsed.second), (100...199).contains(code), code != 101 {
                informational += r
                response = backendReader.readHead()
            }
            guard let responseHead = response, let parsed = HTTPHead(responseHead), let status = Int(parsed.second) else {
                close(fd)
                pool[target] = nil
                if reused && replayable && informational.isEmpty && attempts < 3 {
                    // A kept-alive backend connection the server had closed:
                    // the request never reached it, so send it again.
                    continue
                }
                state.withLock { s in
                    s.stats[target, default: BackendStats()].record(seconds: seconds(since: started), failed: true)
                    release(link, in: &s)
                }
                if informational.isEmpty {
                    _ = send(Array("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8), to: link.client)
                }
                return false
            }
            guard send(informational + responseHead, to: link.client) else {
                finish(link, target, started: started, failed: status >= 500)
                return false
            }
            if status == 101 {
                // Upgraded (a WebSocket, say): from here on, plain bytes.
                pool[target] = nil
                _ = send(client.pending, to: fd)
                _ = send(backendReader.pending, to: link.client)
                finish(link, target, started: started, failed: false)
                pumpUpgraded(link, to: target, backendFD: fd)
                return false
            }
            var responseFraming: BodyFraming
            if request.first == "HEAD" || status == 204 || status == 304 {
                responseFraming = .none
            } else if parsed.chunked {
                responseFraming = .chunked
            } else if case .bytes(let n) = parsed.contentLength {
                responseFraming = .length(n)
            } else {
                responseFraming = .untilClose
            }
            let copied: Bool
            switch responseFraming {
            case .none: copied = true
            case .length(let n): copied = backendReader.copy(n, to: link.client)
            case .chunked: copied = backendReader.copyChunked(to: link.client)
            case .untilClose: copied = backendReader.copyToEnd(to: link.client)
            }
            finish(link, target, started: started, failed: status >= 500 || !copied)
            let backendKeeps = parsed.keepsAlive(version: parsed.first)
            if !copied || !backendKeeps || !backendReader.pending.isEmpty {
                close(fd)
                pool[target] = nil
            }
            if case .untilClose = responseFraming { return false }
            return copied && backendKeeps && request.keepsAlive(version: request.third)
        }
    }

    private func finish(_ link: Link, _ backend: Endpoint, started: ContinuousClock.Instant, failed: Bool) {
        state.withLock { s in
            s.stats[backend, default: BackendStats()].record(seconds: seconds(since: started), failed: failed)
            release(link, in: &s)
        }
    }

    /// After an upgrade the connection is a byte pipe; the pump threads close
    /// it, so this link's descriptors leave `serveHTTP`'s cleanup.
    private func pumpUpgraded(_ link: Link, to backend: Endpoint, backendFD: Int32) {
        let client = fcntl(link.client, F_DUPFD_CLOEXEC, 0)
        let upgraded = state.withLock { s in
            s.nextID += 1
            let upgraded = Link(id: s.nextID, client: client, backend: backend)
            s.open[backend, default: 0] += 1
            s.version += 1
            s.links[upgraded.id] = upgraded
            upgraded.backendFD.store(backendFD, ordering: .releasing)
            return upgraded
        }
        do {
            try spawnThread { self.pumpBothWays(upgraded, backendFD: backendFD) }
        } catch {
            logLine("cannot start connection thread: \(error)")
            retire(upgraded)
            close(backendFD)
            close(client)
        }
    }

    /// A pooled connection the server has closed (or that has bytes nobody
    /// asked for) is not reused.
    static func isStale(_ fd: Int32) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&pfd, 1, 0) != 0
    }
}

private func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}
