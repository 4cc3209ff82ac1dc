import Foundation
import Processes

/// Runs git in `directory` with a fixed identity and no system or user
/// configuration, as every test that builds a repository needs; throws with
/// git's output when it fails.
///
///     try await git(["commit", "-qam", "Pin v2"], in: repo)
@discardableResult
public func git(_ arguments: [String], in directory: String, author: String = "Ada Lovelace",
                email: String = "ada@example.com") async throws -> String {
    let log = NSTemporaryDirectory() + "gantry-git-\(UUID().uuidString.prefix(8)).log"
    defer { try? FileManager.default.removeItem(atPath: log) }
    var environment = ProcessInfo.processInfo.environment
    for key in ["GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"] { environment[key] = author }
    for key in ["GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"] { environment[key] = email }
    environment["GIT_CONFIG_NOSYSTEM"] = "1"
    environment["HOME"] = NSTemporaryDirectory()
    let result = try await Processes.run(ProcessSpec(argv: ["git"] + arguments, environment: environment,
                                                     workingDirectory: directory, logPath: log), timeout: .seconds(60))
    let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    guard result.status.succeeded else { throw GitFailure(description: "git \(arguments.joined(separator: " ")) failed: \(output)") }
    return output
}

public struct GitFailure: Error, CustomStringConvertible {
    public var description: String
}
