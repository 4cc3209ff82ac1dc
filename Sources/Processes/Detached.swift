import Glibc

/// Names one process across time: a pid alone may be reused by an unrelated
/// process after a restart of the controller, the pid plus its start time cannot.
/// Being `Codable`, it can be persisted and checked again after the controller restarts.
///
/// ```swift
/// let identity = try spawnDetached(spec)
/// try JSONEncoder().encode(identity).write(to: stateFile)
/// // after a restart:
/// if !identity.isRunning { /* redeploy */ }
/// ```
public struct ProcessIdentity: Sendable, Hashable, Codable {
    public var pid: Int32
    /// Field 22 of `/proc/<pid>/stat`: clock ticks after boot when the process started.
    public var startTime: UInt64

    public init(pid: Int32, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
    }

    /// The identity of the process currently using `pid`, or nil when there is none.
    public static func of(pid: Int32) -> ProcessIdentity? {
        ProcStat.read(pid: pid).map { ProcessIdentity(pid: pid, startTime: $0.startTime) }
    }

    /// A zombie counts as not running: it has exited and only waits to be reaped.
    public var isRunning: Bool {
        guard let stat = current else { return false }
        return stat.state != UInt8(ascii: "Z") && stat.state != UInt8(ascii: "X")
    }

    /// The stat of this exact process, or nil if the pid is gone or now someone else's.
    fileprivate var current: ProcStat? {
        guard let stat = ProcStat.read(pid: pid), stat.startTime == startTime else { return nil }
        return stat
    }
}

/// Starts a child that survives the controller: it gets its own session (so it
/// is outside our process group and terminal) and is not reaped by us, so it
/// keeps running when we exit and is then adopted by init.
///
/// ```swift
/// let server = try spawnDetached(ProcessSpec(argv: ["/opt/models/serve"], environment: env, logPath: log))
/// ```
public func spawnDetached(_ spec: ProcessSpec) throws -> ProcessIdentity {
    let pid = try spawnChild(spec, mode: .session)
    // Unreaped, the child's /proc entry outlives even an instant exit, so this
    // only fails if someone else reaped it already.
    guard let identity = ProcessIdentity.of(pid: pid) else {
        throw SpawnError(executable: spec.argv[0], code: ESRCH)
    }
    return identity
}

/// A detached process held at its start until `open()`: the child is
/// `trampoline gate PROGRAM -- ARGV…` (`gantry gate`), which waits for one
/// byte on descriptor 3 then execs the program in its place (same pid,
/// same start time, so the identity holds). The caller records the identity
/// first, then opens the gate: a caller killed in between closes its end,
/// and the child exits without running anything. So no process runs that
/// no record names.
///
/// ```swift
/// let (runner, gate) = try spawnDetachedGated(spec, trampoline: gantryExecutable)
/// try launch.started(record(runner))
/// gate.open()
/// ```
public func spawnDetachedGated(_ spec: ProcessSpec, trampoline: String) throws -> (ProcessIdentity, Gate) {
    guard let program = spec.argv.first, let resolved = executablePath(program, environment: spec.environment) else {
        throw SpawnError(executable: spec.argv.first ?? "", code: ENOENT)
    }
    var fds: [Int32] = [-1, -1]
    // A socket pair rather than a pipe: opening a gate whose child already
    // died must not raise SIGPIPE in the controller (MSG_NOSIGNAL below).
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw SpawnError(executable: program, code: errno) }
    // Other children are spawned with every descriptor above 2 closed, so the
    // moment before CLOEXEC is set leaks neither end.
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    defer { close(fds[0]) }
    var gated = spec
    gated.argv = [trampoline, "gate", resolved, "--"] + spec.argv
    gated.gate = fds[0]
    do {
        return (try spawnDetached(gated), Gate(fd: fds[1]))
    } catch {
        close(fds[1])
        throw error
    }
}

/// The controller's end of a gated child's socket pair (see
/// `spawnDetachedGated`).
/// Dropped without `open()`, the child exits without running.
public final class Gate: @unchecked Sendable {
    private var fd: Int32

    init(fd: Int32) { self.fd = fd }

    /// Lets the child run.
    public func open() {
        guard fd >= 0 else { return }
        var byte: UInt8 = 1
        _ = send(fd, &byte, 1, Int32(MSG_NOSIGNAL))
        close(fd)
        fd = -1
    }

    deinit { if fd >= 0 { close(fd) } }
}

/// Stops a detached process and its process group: SIGTERM, up to `grace` for it
/// to exit, then SIGKILL. Returns whether it is gone. Cancelling the calling task
/// skips the rest of the grace period.
///
/// ```swift
/// let gone = await stop(identity, grace: .seconds(10))
/// ```
public func stop(_ identity: ProcessIdentity, grace: Duration) async -> Bool {
    if identity.isRunning {
        signalTree(identity, SIGTERM)
        if await !waitUntilGone(identity, for: grace) {
            signalTree(identity, SIGKILL)
            // SIGKILL cannot be caught; the bound only covers uninterruptible sleep.
            _ = await waitUntilGone(identity, for: .seconds(5))
        }
    }
    collectZombie(identity)
    return !identity.isRunning
}

/// Signals the group when the process leads one, so helpers it started go too.
/// A pid that is a live group leader cannot name anyone else's group.
private func signalTree(_ identity: ProcessIdentity, _ signal: Int32) {
    guard let stat = identity.current else { return }
    _ = kill(stat.processGroup == identity.pid ? -identity.pid : identity.pid, signal)
}

/// While the exited leader is a zombie its pid cannot be reused, so this is the
/// one moment its group can be killed safely. Reaping is limited to session
/// leaders we spawned, so a ChildProcess's own reaper is never robbed.
private func collectZombie(_ identity: ProcessIdentity) {
    guard let stat = identity.current, stat.state == UInt8(ascii: "Z") else { return }
    if stat.processGroup == identity.pid {
        _ = kill(-identity.pid, SIGKILL)
    }
    if stat.parent == getpid() && stat.session == identity.pid {
        var raw: Int32 = 0
        _ = waitpid(identity.pid, &raw, WNOHANG)
    }
}

private func waitUntilGone(_ identity: ProcessIdentity, for limit: Duration) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: limit)
    var pause = Duration.milliseconds(10)
    while identity.isRunning {
        guard clock.now < deadline, !Task.isCancelled else { return false }
        try? await Task.sleep(for: min(pause, clock.now.duration(to: deadline)))
        pause = min(pause * 2, .milliseconds(200))
    }
    return true
}

/// The fields of `/proc/<pid>/stat` this module relies on.
struct ProcStat {
    var state: UInt8
    var parent: Int32
    var processGroup: Int32
    var session: Int32
    var startTime: UInt64

    static func read(pid: Int32) -> ProcStat? {
        guard pid > 0 else { return nil }
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { buffer in
                Glibc.read(fd, buffer.baseAddress! + count, buffer.count - count)
            }
            if n > 0 {
                count += n
            } else if n == 0 {
                break
            } else if errno != EINTR {
                return nil
            }
        }
        return parse(bytes[..<count])
    }

    /// The command name (field 2) may itself contain spaces and parentheses,
    /// so fields are counted from the last ')'.
    static func parse(_ text: ArraySlice<UInt8>) -> ProcStat? {
        guard let close = text.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = text[(close + 1)...].split(whereSeparator: { $0 == 0x20 || $0 == 0x0A })
        // fields[0] is field 3 of the file, so field N is fields[N - 3].
        guard fields.count > 19, let state = fields[0].first,
            let parent = Int32(String(decoding: fields[1], as: UTF8.self)),
            let group = Int32(String(decoding: fields[2], as: UTF8.self)),
            let session = Int32(String(decoding: fields[3], as: UTF8.self)),
            let start = UInt64(String(decoding: fields[19], as: UTF8.self))
        else { return nil }
        return ProcStat(state: state, parent: parent, processGroup: group, session: session, startTime: start)
    }
}
