import Foundation
import Glibc
import Synchronization

/// A child in its own process group, reaped by this process.
///
/// A dedicated thread blocks in `waitpid` so the small Swift concurrency pool is
/// never tied up, and so the child never lingers as a zombie even if nobody awaits it.
///
/// ```swift
/// let child = try ChildProcess.spawn(spec)
/// // ... later, on rollout:
/// let status = await child.terminate(grace: .seconds(10))
/// ```
public final class ChildProcess: Sendable {
    public let pid: Int32
    private let state = Mutex(WaitState())

    private init(pid: Int32) {
        self.pid = pid
    }

    /// Starts `spec` in a new process group whose id is the child's pid.
    public static func spawn(_ spec: ProcessSpec) throws -> ChildProcess {
        let child = ChildProcess(pid: try spawnChild(spec, mode: .processGroup))
        let reaper = Thread { child.reap() }
        reaper.name = "waitpid \(child.pid)"
        reaper.start()
        return child
    }

    /// The status if the child has already been reaped; never blocks.
    public var exitStatus: ExitStatus? {
        state.withLock { $0.status }
    }

    /// Suspends until the child exits. Any number of callers may wait, before or
    /// after the exit; all see the same status. Cancellation does not cut it short
    /// because there is no status to return without the exit.
    public func wait() async -> ExitStatus {
        guard let status = await waitForExit(timeout: nil, cancellable: false) else {
            preconditionFailure("only an exit can end an uncancellable wait without timeout")
        }
        return status
    }

    /// SIGTERM to the group, then SIGKILL to the group once the leader has exited or
    /// `grace` has passed. Once the leader is gone, whatever remains in its group is
    /// an orphan nobody supervises any more, so it is killed rather than leaked.
    /// Cancelling the calling task skips the rest of the grace period.
    public func terminate(grace: Duration) async -> ExitStatus {
        if let status = exitStatus { return status }
        signalGroup(SIGTERM)
        _ = await waitForExit(timeout: grace, cancellable: true)
        signalGroup(SIGKILL)
        return await wait()
    }

    func signalGroup(_ signal: Int32) {
        _ = kill(-pid, signal)
    }

    /// Waits for the exit; returns nil when `timeout` passes first or, if
    /// `cancellable`, when the task is cancelled.
    func waitForExit(timeout: Duration?, cancellable: Bool) async -> ExitStatus? {
        let id = state.withLock { $0.allocate() }
        let timer = timeout.map { limit in
            Task { [self] in
                guard (try? await Task.sleep(for: limit)) != nil else { return }
                abandon(id)
            }
        }
        defer {
            timer?.cancel()
            state.withLock { _ = $0.waiters.removeValue(forKey: id) }
        }
        let suspend = {
            await withCheckedContinuation { (continuation: CheckedContinuation<ExitStatus?, Never>) in
                let outcome: Outcome = self.state.withLock { state in
                    if let status = state.status { return .ready(status) }
                    if case .abandoned = state.waiters[id] { return .ready(nil) }
                    state.waiters[id] = .waiting(continuation)
                    return .pending
                }
                if case .ready(let status) = outcome { continuation.resume(returning: status) }
            }
        }
        guard cancellable else { return await suspend() }
        return await withTaskCancellationHandler(operation: suspend, onCancel: { self.abandon(id) })
    }

    /// Ends one wait early. The waiter may not have suspended yet (a cancellation
    /// handler or a short timer can run first), so that case is recorded instead.
    private func abandon(_ id: UInt64) {
        let continuation: CheckedContinuation<ExitStatus?, Never>? = state.withLock { state in
            switch state.waiters[id] {
            case .waiting(let continuation):
                state.waiters[id] = nil
                return continuation
            case .allocated:
                state.waiters[id] = .abandoned
                return nil
            case .abandoned, nil:
                return nil
            }
        }
        continuation?.resume(returning: nil)
    }

    private func reap() {
        var raw: Int32 = 0
        var result: pid_t
        repeat {
            result = waitpid(pid, &raw, 0)
        } while result == -1 && errno == EINTR
        // Only fails if someone else reaped our child (e.g. SIGCHLD set to SIG_IGN);
        // the real status is lost then, and -1 is not a code a process can exit with.
        let status = result == pid ? ExitStatus(waitStatus: raw) : .exited(-1)
        let waiting: [CheckedContinuation<ExitStatus?, Never>] = state.withLock { state in
            state.status = status
            var waiting: [CheckedContinuation<ExitStatus?, Never>] = []
            for (id, waiter) in state.waiters {
                if case .waiting(let continuation) = waiter {
                    waiting.append(continuation)
                    state.waiters[id] = nil
                }
            }
            return waiting
        }
        for continuation in waiting { continuation.resume(returning: status) }
    }
}

private enum Outcome {
    case ready(ExitStatus?)
    case pending
}

private struct WaitState {
    enum Waiter {
        case allocated
        case waiting(CheckedContinuation<ExitStatus?, Never>)
        case abandoned
    }

    var status: ExitStatus?
    var waiters: [UInt64: Waiter] = [:]
    var nextID: UInt64 = 0

    mutating func allocate() -> UInt64 {
        nextID += 1
        waiters[nextID] = .allocated
        return nextID
    }
}

/// Runs a child to completion, killing its whole process group with SIGKILL if
/// `timeout` passes (reported as `timedOut`) or the calling task is cancelled
/// (thrown as `CancellationError`). Either way the child is reaped before returning.
///
/// ```swift
/// let result = try await run(
///     ProcessSpec(argv: ["python3", "convert.py", "model.onnx"], environment: env, logPath: log),
///     timeout: .seconds(600))
/// guard result.status.succeeded else { throw ConversionFailed(result.status) }
/// ```
public func run(_ spec: ProcessSpec, timeout: Duration?) async throws -> RunResult {
    try Task.checkCancellation()
    let clock = ContinuousClock()
    let start = clock.now
    let child = try ChildProcess.spawn(spec)
    if let status = await child.waitForExit(timeout: timeout, cancellable: true) {
        return RunResult(status: status, duration: start.duration(to: clock.now), timedOut: false)
    }
    child.signalGroup(SIGKILL)
    let status = await child.wait()
    if Task.isCancelled { throw CancellationError() }
    return RunResult(status: status, duration: start.duration(to: clock.now), timedOut: true)
}
