import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Write end of the self-pipe the signal handler reports through. A global
/// because a C signal handler cannot capture context; atomic because it is
/// read from whatever thread the kernel picks to run the handler.
private let signalPipeWrite = Atomic<Int32>(-1)

/// The long-lived TCP forwarder that owns a deployment's stable address and
/// hands each new connection to the backend named in the control directory.
///
/// It runs as its own process (the controller re-executes itself with a
/// hidden subcommand) because `gantry apply` is one-shot and exits, while the
/// stable address must stay bound across versions.
///
/// ```swift
/// // in the hidden subcommand:
/// let control = ForwarderControl(directory: forwarderDirectory)
/// try Forwarder.run(listen: Endpoint(parsing: "127.0.0.1:8700")!, control: control)
/// ```
public enum Forwarder {
    /// Runs in the calling process until SIGTERM or SIGINT, then exits 0.
    /// SIGHUP re-reads the backend file immediately. Throws only if the
    /// forwarder cannot start, e.g. `StableAddressError.addressInUse`.
    public static func run(listen: Endpoint, control: ForwarderControl) throws -> Never {
        // A client that disconnects mid-write must not kill every other
        // connection; sends also pass MSG_NOSIGNAL, this covers the rest.
        signal(SIGPIPE, SIG_IGN)
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else {
            throw StableAddressError.system(operation: "pipe", errno: errno)
        }
        pipeFDs.forEach(Sockets.setCloseOnExec)
        signalPipeWrite.store(pipeFDs[1], ordering: .sequentiallyConsistent)
        let handler: @convention(c) (Int32) -> Void = { signo in
            let saved = errno
            var byte = UInt8(truncatingIfNeeded: signo)
            _ = write(signalPipeWrite.load(ordering: .relaxed), &byte, 1)
            errno = saved
        }
        // Handlers (not a sigwait thread) because signal masks are per thread
        // and the caller may already have threads that would take the default
        // action and kill the process without cleaning up.
        for signo in [SIGTERM, SIGINT, SIGHUP] { signal(signo, handler) }
        // The mask is inherited across exec: a parent that spawned us from a
        // thread blocking these signals would otherwise leave SIGTERM pending
        // forever. Threads started below inherit this unblocked mask.
        var handled = sigset_t()
        sigemptyset(&handled)
        for signo in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&handled, signo) }
        pthread_sigmask(SIG_UNBLOCK, &handled, nil)

        let running: RunningForwarder
        do {
            running = try start(listen: listen, control: control)
        } catch {
            for signo in [SIGTERM, SIGINT, SIGHUP] { signal(signo, SIG_DFL) }
            throw error
        }
        logLine("listening on \(running.endpoint), backend \(running.backend.map(String.init(describing:)) ?? "none")")

        while true {
            var byte: UInt8 = 0
            let n = read(pipeFDs[0], &byte, 1)
            if n < 0 && errno == EINTR { continue }
            guard n == 1 else { break }
            if Int32(byte) == SIGHUP {
                running.reloadNow()
                continue
            }
            logLine("signal \(byte), shutting down")
            break
        }
        running.stop()
        exit(0)
    }

    /// Starts a forwarder on background threads of this process and returns a
    /// handle that can stop it. `run` is this plus signal handling.
    public static func start(listen: Endpoint, control: ForwarderControl) throws -> RunningForwarder {
        try RunningForwarder.start(listen: listen, control: control)
    }
}
