import Foundation

/// A project in a Git repository of its own, on branch main in a new
/// temporary directory: a test writes files and commits them as a person
/// would. The demo projects of the test targets build on it.
///
///     let repository = try await ProjectRepository("gantry-crash")
///     repository.write("gantry.yaml", manifests)
///     try await repository.commit("quality 0")
open class ProjectRepository: @unchecked Sendable {
    public let directory: String

    public init(_ prefix: String = "gantry-project") async throws {
        directory = makeTemporaryDirectory(prefix)
        try await git(["init", "-q", "-b", "main"], in: directory)
    }

    /// Writes `content` to `path` (relative to the project), making its
    /// directories.
    public func write(_ path: String, _ content: String) {
        let full = (directory as NSString).appendingPathComponent(path)
        do {
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try content.write(toFile: full, atomically: true, encoding: .utf8)
        } catch {
            fatalError("cannot write \(full): \(error)")
        }
    }

    public func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(path))
    }

    /// Commits everything in the work tree.
    public func commit(_ message: String, author: String = "Ada Lovelace", email: String = "ada@example.com") async throws {
        try await git(["add", "-A"], in: directory)
        try await git(["commit", "-q", "-m", message], in: directory, author: author, email: email)
    }
}
