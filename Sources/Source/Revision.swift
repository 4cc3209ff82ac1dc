import Git
import Manifests

/// A fetched revision: immutable, with its manifests decoded. What every later
/// stage reads; nothing reads Git behind its back.
///
///     let revision = try source.fetch()
///     if revision.diagnostics.isEmpty { plan(revision.manifests) }
public struct Revision: Sendable {
    /// The source as the user gave it, for display and records.
    public let source: String
    public let commit: CommitInfo
    /// The project root inside the repository (`--path`), "" for the top.
    public let root: String
    /// The tree id of the project root; equal ids mean equal manifests.
    public let rootTree: ObjectID?
    public let manifests: ManifestSet
    public let diagnostics: [Diagnostic]
    /// Number of manifest files read.
    public let fileCount: Int
    let repository: Repository

    public var isValid: Bool { diagnostics.isEmpty }

    /// The Git object (tree or blob) at `path` relative to the project root.
    public func object(at path: String) throws -> ObjectID? {
        try repository.entry(inTree: commit.tree, at: join(root, path))
    }

    /// The bytes of a file relative to the project root; nil when absent.
    public func file(_ path: String) throws -> [UInt8]? {
        guard let id = try object(at: path) else { return nil }
        return try repository.blob(id)
    }

    /// Writes the whole commit's tree into `directory`.
    public func checkout(into directory: String) throws {
        try repository.checkout(tree: commit.tree, into: directory)
    }

    /// Commits after `base` up to this revision that changed `path`
    /// (relative to the project root), newest first.
    public func commits(since base: Revision, touching path: String) throws -> [CommitInfo] {
        try repository.commits(from: commit.id, excluding: base.commit.id, touching: repositoryPath(path))
    }

    /// `root/path`, normalised.
    public func repositoryPath(_ path: String) -> String { join(root, path) }
}

func join(_ a: String, _ b: String) -> String {
    (a.split(separator: "/") + b.split(separator: "/")).filter { $0 != "." }.joined(separator: "/")
}
