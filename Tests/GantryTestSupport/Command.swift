import Foundation
import Processes

/// How a command a test ran ended, and everything it wrote (stdout and
/// stderr, interleaved as written).
///
///     let validated = try await gantry(["validate", dir])
///     #expect(validated.code == 1)
///     #expect(validated.output.contains("2 errors in 1 of 4 files"))
public struct CommandResult: Sendable {
    public var command: [String]
    public var status: ExitStatus
    /// Whether the command ran out of its time and was killed.
    public var timedOut: Bool
    public var output: String

    /// The exit code, or -1 for a command a signal ended.
    public var code: Int32 {
        if case .exited(let code) = status { return code }
        return -1
    }

    /// The output of a command that exited 0; otherwise a `TestFailure`
    /// naming the command and quoting its output.
    @discardableResult
    public func checked() throws -> String {
        guard status.succeeded else {
            throw TestFailure("\(command.joined(separator: " ")) failed (\(status)): \(output)")
        }
        return output
    }
}

/// Runs `argv` (a name without a slash is looked up in PATH) in `directory`
/// with `environment`, the test's own by default. A command that fails is a
/// result to assert on; only one that cannot be started throws.
///
///     let head = try await runCommand(["git", "rev-parse", "HEAD"], in: repo).checked()
public func runCommand(
    _ argv: [String], in directory: String? = nil,
    environment: [String: String] = ProcessInfo.processInfo.environment,
    timeout: Duration = .seconds(120)
) async throws -> CommandResult {
    let log = NSTemporaryDirectory() + "gantry-command-\(UUID().uuidString.prefix(8)).log"
    defer { try? FileManager.default.removeItem(atPath: log) }
    let result = try await Processes.run(
        ProcessSpec(argv: argv, environment: environment, workingDirectory: directory, logPath: log),
        timeout: timeout)
    let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    return CommandResult(command: argv, status: result.status, timedOut: result.timedOut, output: output)
}

/// The test process's own environment with `changes` on top, for a command
/// that needs one or two variables of its own.
///
///     let broken = testEnvironment(["LD_LIBRARY_PATH": libraries])
public func testEnvironment(_ changes: [String: String]) -> [String: String] {
    ProcessInfo.processInfo.environment.merging(changes) { $1 }
}
