import Foundation
import Glibc

/// A finished child process: exit status and what it wrote to stdout.
struct ChildResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var succeeded: Bool { status == 0 }
}

struct ChildFailure: Error, CustomStringConvertible {
    var argv: [String]
    var result: ChildResult
    var description: String {
        "\(argv.joined(separator: " ")) exited with \(result.status): \(result.stderr.prefix(2000))"
    }
}

/// Runs programs for the benchmark (git, the libyaml floor, PyYAML) by argv,
/// never through a shell. Children get a clean signal mask and default
/// dispositions, as the platform notes require, and their own process group.
/// Blocking is fine here: the benchmark measures one thing at a time.
enum Child {
    /// The environment every child gets: git must not read the user's
    /// configuration, so that the baselines measure git and nothing else.
    nonisolated(unsafe) static var environment: [String: String] = {
        var env = ProcessInfo.processInfo.environment
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        env["GIT_AUTHOR_NAME"] = "Bench Author"
        env["GIT_AUTHOR_EMAIL"] = "bench@example.com"
        env["GIT_COMMITTER_NAME"] = "Bench Author"
        env["GIT_COMMITTER_EMAIL"] = "bench@example.com"
        env["GIT_TERMINAL_PROMPT"] = "0"
        env["LC_ALL"] = "C"
        return env
    }()

    /// Runs `argv` to completion and returns its output; stderr is kept for
    /// error messages.
    static func run(_ argv: [String]) throws -> ChildResult {
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw POSIXError(.EMFILE) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        for fd in outPipe + errPipe { posix_spawn_file_actions_addclose(&actions, fd) }

        var pid: pid_t = 0
        let code = spawn(argv, &actions, &pid)
        close(outPipe[1])
        close(errPipe[1])
        guard code == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            throw ChildFailure(argv: argv, result: ChildResult(status: -1, stdout: "", stderr: String(cString: strerror(code))))
        }
        // Stderr goes to a thread of its own so that neither pipe can fill
        // up and stall the child while the other is read.
        let errReader = PipeReader(fd: errPipe[0])
        let stdout = readAll(outPipe[0])
        let stderr = errReader.finish()
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ChildResult(
            status: exit, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Runs `argv` and throws unless it exits 0.
    @discardableResult
    static func check(_ argv: [String]) throws -> String {
        let r = try run(argv)
        guard r.succeeded else { throw ChildFailure(argv: argv, result: r) }
        return r.stdout
    }

    /// posix_spawnp with a clean signal mask, default dispositions and a
    /// process group of its own, as the Processes module starts children.
    static func spawn(_ argv: [String], _ actions: inout posix_spawn_file_actions_t, _ pid: inout pid_t) -> Int32 {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        var all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArgv.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        return posix_spawnp(&pid, argv[0], &actions, &attributes, cArgv, cEnv)
    }

    static func readAll(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { out += buffer[0..<n] } else if n < 0 && errno == EINTR { continue } else { break }
        }
        close(fd)
        return out
    }

    /// Starts a long-running child (git daemon, the health endpoint) and
    /// returns its pid; `stop` ends it.
    static func start(_ argv: [String], log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var pid: pid_t = 0
        let code = spawn(argv, &actions, &pid)
        guard code == 0 else {
            throw ChildFailure(argv: argv, result: ChildResult(status: -1, stdout: "", stderr: String(cString: strerror(code))))
        }
        return pid
    }

    /// Ends a child started with `start` and its process group (git daemon
    /// forks a child per connection), then reaps it.
    static func stop(_ pid: pid_t) {
        kill(-pid, SIGTERM)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}

/// Drains one pipe on its own thread.
final class PipeReader: @unchecked Sendable {
    private var bytes: [UInt8] = []
    private let done = DispatchSemaphore(value: 0)

    init(fd: Int32) {
        let thread = Thread { [self] in
            bytes = Child.readAll(fd)
            done.signal()
        }
        thread.start()
    }

    func finish() -> [UInt8] {
        done.wait()
        return bytes
    }
}
