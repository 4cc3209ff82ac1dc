import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One client connection. A connection that speaks HTTP/1.x is routed per
/// request, and counts against a backend only while a request to it is in
/// flight, so a switch or a weight change moves keep-alive clients at their
/// next request and an in-flight request still finishes where it started.
/// Any other protocol keeps the backend it was assigned at accept time for
/// its whole life.
final class Link: Sendable {
    let id: UInt64
    let client: Int32
    /// The backend whose `open` count this connection holds, if any. Changed
    /// only under the forwarder's state lock.
    let counted: Mutex<Endpoint?>
    /// The backend descriptor in use; -1 when none. Written under the state
    /// lock so that `stop()` either sees it or the connection sees `stopping`.
    let backendFD = Atomic<Int32>(-1)
    /// Pump directions still running; the last one to finish closes both fds.
    let directions = Atomic<Int>(2)

    init(id: UInt64, client: Int32, backend: Endpoint) {
        self.id = id
        self.client = client
        self.counted = Mutex(backend)
    }
}

/// A forwarder running on background threads of the current process.
/// `Forwarder.run` wraps one of these for the dedicated forwarder process;
/// tests and embedders use it directly because it can be stopped.
///
/// ```swift
/// let running = try Forwarder.start(listen: Endpoint(parsing: "127.0.0.1:8700")!,
///                                   control: ForwarderControl(directory: dir))
/// defer { running.stop() }
/// print(running.endpoint)
/// ```
public final class RunningForwarder: Sendable {
    /// The address actually bound (differs from the request when it asked for port 0).
    public let endpoint: Endpoint
    public let control: ForwarderControl

    struct State {
        var routes: [Route] = []
        /// Smooth weighted round robin: each route's running credit.
        var credit: [Endpoint: Int] = [:]
        /// Backends that refused a connection, skipped until this instant.
        var down: [Endpoint: ContinuousClock.Instant] = [:]
        var stats: [Endpoint: BackendStats] = [:]
        var backendSignature: ControlFiles.Signature?
        var rejectedSignature: ControlFiles.Signature?
        var open: [Endpoint: Int] = [:]
        var accepted = 0
        var version: UInt64 = 1
        var links: [UInt64: Link] = [:]
        var nextID: UInt64 = 0
        var stopping = false

        /// The heaviest route: what `status.json` reports as the backend.
        var backend: Endpoint? { routes.filter { $0.weight > 0 }.max(by: { $0.weight < $1.weight })?.endpoint }

        /// The next backend for a request, by weight, skipping `excluded`
        /// and backends recently refused (unless every one was).
        mutating func pick(excluding excluded: Set<Endpoint>, now: ContinuousClock.Instant) -> Endpoint? {
            let eligible = routes.filter { $0.weight > 0 && !excluded.contains($0.endpoint) }
            let up = eligible.filter { (down[$0.endpoint] ?? now) <= now }
            let candidates = up.isEmpty ? eligible : up
            guard !candidates.isEmpty else { return nil }
            let total = candidates.reduce(0) { $0 + $1.weight }
            var best: Route?
            for route in candidates {
                credit[route.endpoint, default: 0] += route.weight
                if best == nil || credit[route.endpoint]! > credit[best!.endpoint]! { best = route }
            }
            credit[best!.endpoint]! -= total
            return best!.endpoint
        }
    }

    private let listenFD: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    let state = Mutex(State())
    /// Version last written to disk; holding this lock across the write keeps
    /// status files in order when several threads publish at once.
    private let published = Mutex<UInt64>(0)
    private let acceptThread = Mutex<pthread_t?>(nil)
    private let stopped = Atomic<Bool>(false)

    static func start(listen: Endpoint, control: ForwarderControl) throws -> RunningForwarder {
        try ControlFiles.ensureDirectory(control.directory)
        let (fd, bound) = try Sockets.listen(on: listen)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else {
            let code = errno
            close(fd)
            throw StableAddressError.system(operation: "pipe", errno: code)
        }
        for end in pipeFDs {
            Sockets.setCloseOnExec(end)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        let forwarder = RunningForwarder(
            endpoint: bound, control: control, listenFD: fd, wakeRead: pipeFDs[0], wakeWrite: pipeFDs[1])
        forwarder.refreshBackend()
        forwarder.publish()
        do {
            let thread = try spawnThread(joinable: true) { forwarder.acceptLoop() }
            forwarder.acceptThread.withLock { $0 = thread }
        } catch {
            forwarder.stop()
            throw error
        }
        return forwarder
    }

    private init(endpoint: Endpoint, control: ForwarderControl, listenFD: Int32, wakeRead: Int32, wakeWrite: Int32) {
        self.endpoint = endpoint
        self.control = control
        self.listenFD = listenFD
        self.wakeRead = wakeRead
        self.wakeWrite = wakeWrite
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// The backend new connections currently go to.
    public var backend: Endpoint? { state.withLock { $0.backend } }

    /// Re-reads the backend file now instead of at the next timer tick (SIGHUP).
    public func reloadNow() { wake() }

    /// Stops accepting, cuts open connections, and removes `status.json`, so
    /// a status file on disk means a forwarder is (or was, if killed) running.
    public func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake()
        if let thread = acceptThread.withLock({ $0 }) {
            pthread_join(thread, nil)
        }
        close(listenFD)
        state.withLock { s in
            s.stopping = true
            for link in s.links.values {
                shutdown(link.client, Int32(SHUT_RDWR))
                let fd = link.backendFD.load(ordering: .acquiring)
                if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
            }
        }
        // Pump threads notice the shutdown almost at once; bound the wait so a
        // connect still in its timeout cannot hold up process exit.
        var waited = 0
        while waited < 2000, state.withLock({ !$0.links.isEmpty }) {
            usleep(1000)
            waited += 1
        }
        published.withLock { _ in control.removeStatus() }
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    // MARK: Accepting

    private func acceptLoop() {
        var fds = [
            pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        while !stopped.load(ordering: .acquiring) {
            // The 100 ms timeout is the backend-file timer: a switch is
            // noticed promptly even when no client connects.
            let ready = poll(&fds, 2, 100)
            if stopped.load(ordering: .acquiring) { break }
            if ready > 0, fds[1].revents != 0 {
                var sink = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &sink, sink.count) > 0 {}
            }
            refreshBackend()
            if ready > 0, fds[0].revents != 0 {
                acceptPending()
            }
            // Request counts change per request; they reach the status file
            // on this tick rather than with a write per request.
            publish()
        }
    }

    private func acceptPending() {
        while !stopped.load(ordering: .acquiring) {
            let client = accept(listenFD, nil, nil)
            if client < 0 {
                switch errno {
                case EINTR, ECONNABORTED:
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // The pending connection stays queued; back off instead of
                    // spinning on a listen socket that stays readable.
                    logLine("accept: \(String(cString: strerror(errno))); retrying")
                    usleep(50_000)
                    return
                default:
                    return
                }
            }
            // Checked on every accept so a connection made right after the
            // controller renamed the file already goes to the new backend.
            refreshBackend()
            admit(client)
        }
    }

    private func admit(_ client: Int32) {
        // accept4 is not exported to Swift; the forwarder process never forks,
        // so setting the flag right after accept leaves no window that matters.
        Sockets.setCloseOnExec(client)
        Sockets.setNoDelay(client)
        let link: Link? = state.withLock { s in
            s.accepted += 1
            s.version += 1
            guard let backend = s.pick(excluding: [], now: .now) else { return nil }
            s.nextID += 1
            let link = Link(id: s.nextID, client: client, backend: backend)
            s.links[link.id] = link
            s.open[backend, default: 0] += 1
            return link
        }
        guard let link else {
            logLine("no backend configured in \(control.backendPath); closing connection")
            close(client)
            publish()
            return
        }
        publish()
        do {
            try spawnThread { self.serve(link) }
        } catch {
            logLine("cannot start connection thread: \(error)")
            retire(link)
            close(client)
        }
    }

    // MARK: Backend file

    private func refreshBackend() {
        let signature = ControlFiles.signature(control.backendPath)
        let unchanged = state.withLock {
            $0.backendSignature == signature || (signature != nil && $0.rejectedSignature == signature)
        }
        if unchanged { return }
        guard let signature else {
            // Keep forwarding to the last good backend: a missing file is far
            // more likely a mistake than a request to drop all traffic.
            state.withLock { $0.backendSignature = nil }
            return
        }
        let text = ControlFiles.read(control.backendPath).map { String(decoding: $0, as: UTF8.self) }
        guard let next = text.flatMap(Route.parse) else {
            state.withLock { $0.rejectedSignature = signature }
            logLine("ignoring unparsable backend file \(control.backendPath): \(text ?? "<unreadable>")")
            return
        }
        let previous: [Route] = state.withLock { s in
            s.backendSignature = signature
            s.rejectedSignature = nil
            let previous = s.routes
            if previous != next {
                s.routes = next
                s.credit = [:]
                s.version += 1
            }
            return previous
        }
        if previous != next {
            let show = { (routes: [Route]) in
                routes.count == 1 ? "\(routes[0].endpoint)" : routes.isEmpty ? "none" : routes.map { "\($0)" }.joined(separator: ", ")
            }
            logLine("backend \(show(previous)) -> \(show(next))")
            publish()
        }
    }

    // MARK: Connections

    private func serve(_ link: Link) {
        guard let (backend, backendFD) = connectCounted(link, excluding: []) else {
            // Closing (rather than holding) the client lets it fail fast and
            // retry, instead of hanging on a backend that is not there.
            retire(link)
            close(link.client)
            return
        }
        let proceed = state.withLock { s -> Bool in
            guard !s.stopping else { return false }
            link.backendFD.store(backendFD, ordering: .releasing)
            return true
        }
        guard proceed else {
            retire(link)
            close(backendFD)
            close(link.client)
            return
        }
        var client = SocketReader(link.client)
        if client.startsLikeHTTPRequest(otherwiseReadable: backendFD) {
            serveHTTP(link, client: &client, first: (backend, backendFD))
            return
        }
        // Not HTTP/1.x (or a server that speaks first): pass bytes through
        // untouched, to the backend picked at accept.
        if !client.pending.isEmpty, !client.pending.withUnsafeBytes({ Sockets.sendAll(backendFD, $0.baseAddress!, $0.count) }) {
            shutdown(link.client, Int32(SHUT_RDWR))
        }
        pumpBothWays(link, backendFD: backendFD)
    }

    /// One thread per direction: a thread blocked writing one way can then
    /// never stop the other way from draining, so large transfers in both
    /// directions cannot deadlock.
    func pumpBothWays(_ link: Link, backendFD: Int32) {
        do {
            try spawnThread { self.pump(link, from: backendFD, to: link.client) }
        } catch {
            logLine("cannot start connection thread: \(error)")
            retire(link)
            close(backendFD)
            close(link.client)
            return
        }
        pump(link, from: link.client, to: backendFD)
    }

    /// Connects to the backend the link is counted against, or, when that one
    /// refuses, to the next by weight (each refusal takes its backend out of
    /// rotation for a while and counts as a failed request of it). Nil when
    /// none accepts; the link is then counted against none.
    func connectCounted(_ link: Link, excluding: Set<Endpoint>) -> (Endpoint, Int32)? {
        var tried = excluding
        while let backend = link.counted.withLock({ $0 }) {
            do {
                let fd = try Sockets.connect(to: backend, timeoutMilliseconds: 5000)
                Sockets.setNoDelay(fd)
                state.withLock { _ = $0.down.removeValue(forKey: backend) }
                return (backend, fd)
            } catch {
                logLine("backend \(backend) unreachable: \(error)")
                tried.insert(backend)
                state.withLock { s in
                    s.down[backend] = .now + .seconds(2)
                    s.stats[backend, default: BackendStats()].record(seconds: 0, failed: true)
                    release(link, in: &s)
                    if let next = s.pick(excluding: tried, now: .now) { count(link, against: next, in: &s) }
                }
            }
        }
        return nil
    }

    /// Counts `link` against `backend` (a request to it is in flight).
    func count(_ link: Link, against backend: Endpoint, in s: inout State) {
        link.counted.withLock { $0 = backend }
        s.open[backend, default: 0] += 1
        s.version += 1
    }

    /// Ends the count `link` holds, if any.
    func release(_ link: Link, in s: inout State) {
        guard
            let backend = link.counted.withLock({ c in
                defer { c = nil }
                return c
            })
        else { return }
        let remaining = (s.open[backend] ?? 1) - 1
        s.open[backend] = remaining > 0 ? remaining : nil
        s.version += 1
    }

    func pump(_ link: Link, from source: Int32, to destination: Int32) {
        let size = 64 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        var cleanEOF = false
        while true {
            let n = recv(source, buffer, size, 0)
            if n > 0 {
                if !Sockets.sendAll(destination, buffer, n) { break }
            } else if n == 0 {
                cleanEOF = true
                break
            } else if errno != EINTR {
                break
            }
        }
        if cleanEOF {
            // Half-close: the peer may still be sending the other way (a
            // client that shut down its write side still wants the response).
            shutdown(destination, Int32(SHUT_WR))
        } else {
            // A reset or failed write on either side ends the connection both
            // ways; this also unblocks the thread pumping the other direction.
            shutdown(source, Int32(SHUT_RDWR))
            shutdown(destination, Int32(SHUT_RDWR))
        }
        if link.directions.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            // Unregister before closing so `stop()` never shuts down a
            // descriptor number that has already been reused.
            retire(link)
            close(link.client)
            close(link.backendFD.load(ordering: .acquiring))
        }
    }

    func retire(_ link: Link) {
        state.withLock { s in
            s.links[link.id] = nil
            release(link, in: &s)
            s.version += 1
        }
        publish()
    }

    // MARK: Status

    func publish() {
        published.withLock { last in
            guard !stopped.load(ordering: .acquiring) else { return }
            let (snapshot, version) = state.withLock { s in
                (
                    ForwarderStatus(
                        pid: getpid(), listen: endpoint, backend: s.backend,
                        open: Dictionary(uniqueKeysWithValues: s.open.map { ($0.key.description, $0.value) }),
                        accepted: s.accepted, routes: s.routes,
                        stats: Dictionary(uniqueKeysWithValues: s.stats.map { ($0.key.description, $0.value) })),
                    s.version
                )
            }
            guard version != last else { return }
            do {
                try control.writeStatus(snapshot)
                last = version
            } catch {
                logLine("cannot write status: \(error)")
            }
        }
    }
}
