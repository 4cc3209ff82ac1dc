import Glibc

/// Everything needed to start a program, without ever going through a shell.
///
/// The environment is the child's *entire* environment, so callers decide
/// explicitly what leaks from the controller into a model process.
///
/// ```swift
/// let spec = ProcessSpec(
///     argv: ["python3", "serve.py", "--port", "8080"],
///     environment: ["PATH": "/usr/bin:/bin", "MODEL_DIR": "/models/resnet"],
///     workingDirectory: "/srv/resnet",
///     logPath: "/var/log/gantry/resnet.log"
/// )
/// ```
public struct ProcessSpec: Sendable {
    /// `argv[0]` without a slash is looked up in the child's `PATH` (the
    /// controller's when `environment` has none), as `env` would.
    public var argv: [String]
    public var environment: [String: String]
    public var workingDirectory: String?
    /// stdout and stderr are appended here. A relative path is resolved against the
    /// controller's directory, because the log is opened before the child changes
    /// into `workingDirectory`. `nil` discards output.
    public var logPath: String?
    /// The child's end of a gate (a socket), handed to it as descriptor 3.
    var gate: Int32?

    public init(
        argv: [String],
        environment: [String: String],
        workingDirectory: String? = nil,
        logPath: String? = nil
    ) {
        self.argv = argv
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.logPath = logPath
    }
}

/// How a child ended.
///
/// ```swift
/// let result = try await run(spec, timeout: .seconds(60))
/// if case .signaled(SIGKILL) = result.status { print("killed") }
/// print(result.status.succeeded)   // true only for .exited(0)
/// ```
public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    public var succeeded: Bool { self == .exited(0) }

    public var description: String {
        switch self {
        case .exited(let code):
            "exited with code \(code)"
        case .signaled(let signal):
            if let name = signalNames[signal] {
                "killed by \(name) (\(signal))"
            } else {
                "killed by signal \(signal)"
            }
        }
    }

    /// Decodes a raw `waitpid` status; the W* macros are not importable into Swift.
    init(waitStatus raw: Int32) {
        let signal = raw & 0x7f
        self = signal == 0 ? .exited((raw >> 8) & 0xff) : .signaled(signal)
    }
}

private let signalNames: [Int32: String] = [
    SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL",
    SIGTRAP: "SIGTRAP", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE",
    SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1", SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2",
    SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM", SIGXCPU: "SIGXCPU",
]

/// A child could not be started. The message names the program (and the
/// offending directory or log file when that, not the program, was the problem)
/// so an operator can act on it without reading code.
///
/// ```swift
/// do { _ = try ChildProcess.spawn(spec) }
/// catch let error as SpawnError { print(error) } // "cannot start python9: No such file or directory"
/// ```
public struct SpawnError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `argv[0]` as given.
    public var executable: String
    /// The errno value reported by `posix_spawn`.
    public var code: Int32
    /// Set when the failure concerns the working directory or log file rather than the program.
    public var path: String?

    public init(executable: String, code: Int32, path: String? = nil) {
        self.executable = executable
        self.code = code
        self.path = path
    }

    public var description: String {
        let reason = String(cString: strerror(code))
        if let path { return "cannot start \(executable): \(path): \(reason)" }
        if code == ENOENT, !executable.contains("/") {
            return "cannot start \(executable): no executable of that name in the PATH it is given"
        }
        return "cannot start \(executable): \(reason)"
    }
}

/// Outcome of ``run(_:timeout:)``.
///
/// ```swift
/// let result = try await run(spec, timeout: .seconds(5))
/// if result.timedOut { print("gave up after \(result.duration)") }
/// ```
public struct RunResult: Sendable {
    public var status: ExitStatus
    /// Wall time from start until the child was reaped, including any kill.
    public var duration: Duration
    /// True when the child was killed because `timeout` passed.
    public var timedOut: Bool

    public init(status: ExitStatus, duration: Duration, timedOut: Bool) {
        self.status = status
        self.duration = duration
        self.timedOut = timedOut
    }
}

extension Duration {
    /// Seconds as a Double, for logs and metrics.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
