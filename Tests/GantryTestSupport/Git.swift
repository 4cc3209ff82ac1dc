import Foundation

/// The test process's environment with a fixed Git identity and no system
/// Git configuration, for anything that commits (git itself, or gantry
/// writing back).
///
///     let result = try await gantry(["rollback", "demo-prod"], environment: gitEnvironment(author: "Ada"))
public func gitEnvironment(author: String = "Ada Lovelace", email: String = "ada@example.com") -> [String: String] {
    testEnvironment([
        "GIT_AUTHOR_NAME": author, "GIT_COMMITTER_NAME": author,
        "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_EMAIL": email, "GIT_CONFIG_NOSYSTEM": "1",
    ])
}

/// Runs git in `directory` with a fixed identity and no system or user
/// configuration, as every test that builds a repository needs; throws with
/// git's output when it fails.
///
///     try await git(["commit", "-qam", "Pin v2"], in: repo)
@discardableResult
public func git(
    _ arguments: [String], in directory: String, author: String = "Ada Lovelace",
    email: String = "ada@example.com"
) async throws -> String {
    var environment = gitEnvironment(author: author, email: email)
    environment["HOME"] = NSTemporaryDirectory()
    return try await runCommand(["git"] + arguments, in: directory, environment: environment, timeout: .seconds(60)).checked()
}
