import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One client connection and the backend it was assigned at accept time.
/// The backend is fixed for the connection's lifetime: that is what lets an
/// in-flight request finish on the old version after a switch.
private final class Link: Sendable {
    let id: UInt64
    let client: Int32
    let backend: Endpoint
    /// Set once connected; -1 before. Written under the state lock so that
    /// `stop()` either sees it or the connecting thread sees `stopping`.
    let backendFD = Atomic<Int32>(-1)
    /// Pump directions still running; the last one to finish closes both fds.
    let directions = Atomic<Int>(2)

    init(id: UInt64, client: Int32, backend: Endpoint) {
        self.id = id
        self.client = client
        self.backend = backend
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

    private struct State {
        var backend: Endpoint?
        var backendSignature: ControlFiles.Signature?
        var rejectedSignature: ControlFiles.Signature?
        var open: [Endpoint: Int] = [:]
        var accepted = 0
        var version: UInt64 = 1
        var links: [UInt64: Link] = [:]
        var nextID: UInt64 = 0
        var stopping = false
    }

    private let listenFD: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let state = Mutex(State())
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
            guard let backend = s.backend else { return nil }
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
        guard let next = text.flatMap(Endpoint.init(parsing:)) else {
            state.withLock { $0.rejectedSignature = signature }
            logLine("ignoring unparsable backend file \(control.backendPath): \(text ?? "<unreadable>")")
            return
        }
        let previous: Endpoint? = state.withLock { s in
            s.backendSignature = signature
            s.rejectedSignature = nil
            let previous = s.backend
            if previous != next {
                s.backend = next
                s.version += 1
            }
            return previous
        }
        if previous != next {
            logLine("backend \(previous.map(String.init(describing:)) ?? "none") -> \(next)")
            publish()
        }
    }

    // MARK: Connections

    private func serve(_ link: Link) {
        let backendFD: Int32
        do {
            backendFD = try Sockets.connect(to: link.backend, timeoutMilliseconds: 5000)
        } catch {
            // Closing (rather than holding) the client lets it fail fast and
            // retry, instead of hanging on a backend that is not there.
            logLine("backend \(link.backend) unreachable: \(error); closing client")
            retire(link)
            close(link.client)
            return
        }
        Sockets.setNoDelay(backendFD)
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
        // One thread per direction: a thread blocked writing one way can then
        // never stop the other way from draining, so large transfers in both
        // directions cannot deadlock.
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

    private func pump(_ link: Link, from source: Int32, to destination: Int32) {
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

    private func retire(_ link: Link) {
        state.withLock { s in
            s.links[link.id] = nil
            let remaining = (s.open[link.backend] ?? 1) - 1
            s.open[link.backend] = remaining > 0 ? remaining : nil
            s.version += 1
        }
        publish()
    }

    // MARK: Status

    private func publish() {
        published.withLock { last in
            guard !stopped.load(ordering: .acquiring) else { return }
            let (snapshot, version) = state.withLock { s in
                (
                    ForwarderStatus(
                        pid: getpid(), listen: endpoint, backend: s.backend,
                        open: Dictionary(uniqueKeysWithValues: s.open.map { ($0.key.description, $0.value) }),
                        accepted: s.accepted),
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
