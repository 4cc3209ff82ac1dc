import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What a running forwarder last reported about itself in `status.json`.
/// `open` is keyed by the backend's `host:port` text because JSON object keys
/// must be strings; use `openConnections(to:)` rather than indexing by hand.
///
/// ```swift
/// if let s = control.status(), s.isProcessRunning {
///     print("\(s.listen) -> \(s.backend.map(String.init(describing:)) ?? "none")")
/// }
/// ```
public struct ForwarderStatus: Codable, Sendable, Equatable {
    public var pid: Int32
    public var listen: Endpoint
    public var backend: Endpoint?
    public var open: [String: Int]
    public var accepted: Int
    /// Every route with its weight; `backend` is the heaviest. Absent in a
    /// status written by a forwarder that predates weighted routes.
    public var routes: [Route]?
    /// Per backend, keyed like `open`: the HTTP requests it answered.
    public var stats: [String: BackendStats]?

    public init(
        pid: Int32, listen: Endpoint, backend: Endpoint?, open: [String: Int], accepted: Int,
        routes: [Route]? = nil, stats: [String: BackendStats]? = nil
    ) {
        self.pid = pid
        self.listen = listen
        self.backend = backend
        self.open = open
        self.accepted = accepted
        self.routes = routes
        self.stats = stats
    }

    /// Connections to `e` that count against stopping it: a raw TCP
    /// connection for its whole life, an HTTP connection while a request to
    /// `e` is in flight.
    public func openConnections(to e: Endpoint) -> Int { open[e.description] ?? 0 }

    /// What the forwarder has counted for `e` (zeros before its first request).
    public func stats(for e: Endpoint) -> BackendStats { stats?[e.description] ?? BackendStats() }

    /// A forwarder killed with SIGKILL leaves its last status behind; the
    /// controller checks this before trusting the counts or reusing the
    /// forwarder. (Signal 0 probes for existence; EPERM still means alive.)
    public var isProcessRunning: Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}

/// The forwarder's control state on disk: a directory holding `backend` (one
/// line `host:port`, or one `host:port weight` line per route, replaced
/// atomically via rename by the controller) and
/// `status.json`, written by the forwarder (its pid, listen endpoint, current
/// backend, per-backend count of open connections, and total accepted).
///
/// Files rather than a socket protocol because the controller is a one-shot
/// command: it must be able to steer a forwarder it did not start, and the
/// forwarder must come back up on the right backend after a restart.
///
/// ```swift
/// let control = ForwarderControl(directory: "/var/lib/gantry/deployments/sentiment/forwarder")
/// try control.setBackend(newBackend)
/// try await control.waitUntilServing(newBackend, timeout: .seconds(5))
/// let left = await control.drain(oldBackend, timeout: .seconds(30))
/// if left > 0 { print("stopping old backend with \(left) connections still open") }
/// ```
public struct ForwarderControl: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    var backendPath: String { directory + "/backend" }
    var statusPath: String { directory + "/status.json" }

    /// Temp file + rename, so the forwarder never reads a partial line.
    public func setBackend(_ e: Endpoint) throws {
        try ControlFiles.ensureDirectory(directory)
        try ControlFiles.writeAtomically(Array("\(e)\n".utf8), to: backendPath, durable: true)
    }

    /// Several routes with weights: requests are spread in proportion
    /// (smooth weighted round robin, so 1,000 requests split exactly), and a
    /// route whose backend refuses connections is skipped until it accepts.
    public func setRoutes(_ routes: [Route]) throws {
        try ControlFiles.ensureDirectory(directory)
        try ControlFiles.writeAtomically(Array(Route.fileText(routes).utf8), to: backendPath, durable: true)
    }

    /// The routes the backend file names; nil when it is missing or malformed.
    public func routes() -> [Route]? {
        guard let bytes = ControlFiles.read(backendPath) else { return nil }
        return Route.parse(String(decoding: bytes, as: UTF8.self))
    }

    /// The one backend that takes every new request, or nil when the file is
    /// missing, malformed, or splits traffic between several.
    public func backend() -> Endpoint? {
        let live = routes()?.filter { $0.weight > 0 } ?? []
        return live.count == 1 ? live[0].endpoint : nil
    }

    public func status() -> ForwarderStatus? {
        guard let bytes = ControlFiles.read(statusPath) else { return nil }
        return try? JSONDecoder().decode(ForwarderStatus.self, from: Data(bytes))
    }

    /// Waits, polling `status.json` every 50 ms, until the forwarder reports
    /// `e` as its current backend. Once this returns every newly accepted
    /// connection goes to `e`, so the old backend can start draining.
    /// Suspends with `Task.sleep` so no concurrency thread is held hostage.
    public func waitUntilServing(_ e: Endpoint, timeout: Duration) async throws {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let current = status()
            if current?.backend == e { return }
            if ContinuousClock.now >= deadline {
                let seen =
                    current.map { "it reports \($0.backend.map(String.init(describing:)) ?? "no backend")" }
                    ?? "no status file at \(statusPath)"
                throw StableAddressError.timedOut("forwarder did not switch to \(e) within \(timeout); \(seen)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits until the forwarder reports exactly `routes` (weights included)
    /// as what it routes by.
    public func waitUntilRouting(_ routes: [Route], timeout: Duration) async throws {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        // One route takes every request whatever its weight (and is written
        // without one); several are compared weight for weight.
        func live(_ routes: [Route]) -> Set<Route> {
            let taking = routes.filter { $0.weight > 0 }
            return Set(taking.count == 1 ? [Route(taking[0].endpoint, weight: 1)] : taking)
        }
        let wanted = live(routes)
        while true {
            let current = status()
            if let seen = current?.routes, live(seen) == wanted { return }
            if ContinuousClock.now >= deadline {
                let seen = current.map { "it reports \($0.routes.map { "\($0)" } ?? "no routes")" } ?? "no status file at \(statusPath)"
                throw StableAddressError.timedOut("forwarder did not route by \(routes) within \(timeout); \(seen)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits until the forwarder reports no open connections to `e` or the
    /// timeout passes, and returns how many are still open (0 when drained).
    /// It does not throw: the caller stops the old backend either way, and
    /// the count tells it whether that cut anyone off. A missing status file
    /// (no forwarder) counts as drained.
    public func drain(_ e: Endpoint, timeout: Duration) async -> Int {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let remaining = status()?.openConnections(to: e) ?? 0
            if remaining == 0 || ContinuousClock.now >= deadline || Task.isCancelled {
                return remaining
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    func writeStatus(_ s: ForwarderStatus) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(s)
        try ControlFiles.writeAtomically(Array(data) + [0x0A], to: statusPath, durable: false)
    }

    func removeStatus() {
        unlink(statusPath)
    }
}
