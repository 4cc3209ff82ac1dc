import Foundation
import Processes
import Testing

/// A new directory under the system's temporary directory.
func tempDir(_ prefix: String) -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Runs git in `directory` as Grace Hopper, outside any user's configuration.
@discardableResult
func git(_ args: [String], in directory: String) async throws -> RunResult {
    var env = ProcessInfo.processInfo.environment
    env["GIT_AUTHOR_NAME"] = "Grace Hopper"; env["GIT_AUTHOR_EMAIL"] = "grace@example.com"
    env["GIT_COMMITTER_NAME"] = "Grace Hopper"; env["GIT_COMMITTER_EMAIL"] = "grace@example.com"
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["HOME"] = NSTemporaryDirectory()
    let r = try await Processes.run(ProcessSpec(argv: ["git"] + args, environment: env, workingDirectory: directory,
                                                logPath: directory + "/../git-\(getpid()).log"), timeout: .seconds(60))
    #expect(r.status.succeeded, "git \(args)")
    return r
}
