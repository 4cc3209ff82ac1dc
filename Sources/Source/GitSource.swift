import Foundation
import Git
import Manifests
import Synchronization

/// A Git repository to follow: a local path or a URL, a ref, and the
/// project root inside it. Remote repositories are fetched into a bare cache
/// under the state directory.
///
///     let source = try GitSource(location: "git://127.0.0.1/models.git", ref: "main", path: "", cacheDirectory: ".gantry/sources")
///     let revision = try source.fetch()
public final class GitSource: Sendable {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }

    public let location: String
    public let ref: String?
    public let path: String
    public let isRemote: Bool
    /// A token for HTTPS remotes, by reference; read at each fetch so a
    /// rotated token is picked up.
    public let token: SecretRef?
    public let username: String
    let repository: Repository
    let cache = ManifestCache()
    /// Past this many packs in a remote's cache, `compactCache` packs the
    /// newer ones into one (see `Repository.compactPacks`).
    public static let packLimit = 16
    private let compaction = Mutex<String?>(nil)
    /// Commits this source wrote onto the branch it follows: a controller
    /// that sees it grow reconciles at once instead of at its next interval.
    let trackedWrites = Atomic<Int>(0)

    /// How many commits this source has written onto the branch it follows.
    public var commitsWrittenToTrackedBranch: Int { trackedWrites.load(ordering: .acquiring) }

    public init(
        location: String, ref: String?, path: String, cacheDirectory: String,
        token: SecretRef? = nil, username: String = "x-access-token"
    ) throws {
        self.token = token
        self.username = username
        self.location = location
        self.ref = ref
        self.path = path
        self.isRemote = Self.isURL(location)
        // Before anything is made on disk, and so that a missing libgit2 is
        // not reported as a path that is not a repository.
        do { try GitLibrary.ready() } catch { throw Failure(message: error.description) }
        if isRemote {
            let dir = (cacheDirectory as NSString).appendingPathComponent(Self.cacheName(for: location))
            try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
            repository = try Repository.openOrInitBare(at: dir)
        } else {
            do {
                repository = try Repository.open(at: location)
            } catch {
                throw Failure(message: "\(location): not a Git repository (\(error.message))")
            }
        }
    }

    /// The source as shown in records: `location@ref:path`.
    public var name: String {
        location + (ref.map { "@\($0)" } ?? "") + (path.isEmpty ? "" : ":\(path)")
    }

    static func isURL(_ s: String) -> Bool {
        s.contains("://") || (s.contains("@") && s.contains(":") && !s.hasPrefix("/"))
    }

    static func cacheName(for url: String) -> String {
        let safe = url.map { $0.isLetter || $0.isNumber ? $0 : "-" }
        return String(safe.suffix(80)) + ".git"
    }

    /// Fetches (for a remote), resolves the ref and decodes the manifests of
    /// the revision. With `compacting`, the fetch cache's packs are then
    /// compacted when there are too many; a controller passes false and
    /// calls `compactCache` once its reconcile is done, so that the work is
    /// never between a push and the action it leads to.
    public func fetch(compacting: Bool = true) throws -> Revision {
        try update(compacting: compacting)
        return try revision(at: nil)
    }

    /// Fetches a remote's branches and tags; a local repository is read in
    /// place and needs none.
    public func update(compacting: Bool = true) throws {
        guard isRemote else { return }
        let credentials = try token.map { GitCredentials(username: username, token: try $0.read()) }
        try repository.fetch(from: location, credentials: credentials)
        if compacting { compactCache() }
    }

    /// Packs the fetch cache's newer packs into one once there are more
    /// than `packLimit` (see `Repository.compactPacks`); returns whether it
    /// did. A failure is kept for `takeCompactionProblem`: a cache that
    /// could not be compacted only costs memory and lookups until the next
    /// try, so fetching goes on.
    @discardableResult
    public func compactCache() -> Bool {
        guard isRemote else { return false }
        do {
            return try repository.compactPacks(above: Self.packLimit)
        } catch {
            compaction.withLock { $0 = "\(repository.path): \(error)" }
            return false
        }
    }

    /// Why the last compaction of the fetch cache failed, once; nil when
    /// it did not.
    public func takeCompactionProblem() -> String? {
        compaction.withLock { problem in
            defer { problem = nil }
            return problem
        }
    }

    /// The revision of `revision` (a ref or commit id) without fetching, or
    /// of the configured ref when nil.
    public func revision(at revision: String?) throws -> Revision {
        let commit = try resolve(revision ?? ref)
        let rootTree = try repository.entry(inTree: commit.tree, at: path)
        let loaded: (set: ManifestSet, diagnostics: [Diagnostic], count: Int)
        if let hit = cache.assembled(tree: rootTree) {
            loaded = hit
        } else if let rootTree, let base = cache.tree, let changes = try? repository.changedFiles(from: base, to: rootTree),
            let updated = try cache.update(from: base, to: rootTree, changes: changes, read: { try repository.blob($0) })
        {
            // Usually a few files changed since the last revision: only
            // they are read and decoded, and their objects replace the old.
            loaded = updated
        } else {
            let listing = rootTree == nil ? [] : try repository.files(inTree: commit.tree, under: path)
            loaded = try cache.load(tree: rootTree, listing: listing, read: { try repository.blob($0) })
        }
        var diagnostics = loaded.diagnostics
        if rootTree == nil {
            diagnostics.append(
                Diagnostic(
                    file: path.isEmpty ? "." : path, mark: .init(line: 1, column: 1), field: .init(),
                    message: "no such directory in commit \(commit.id.short)"))
        }
        return Revision(
            source: name, commit: commit, root: path, rootTree: rootTree, manifests: loaded.set,
            diagnostics: diagnostics, fileCount: loaded.count, repository: repository)
    }

    /// What a pull request would leave on `base`: the revision of `head`
    /// merged into it (as a forge's merge ref), or the conflicting paths.
    public enum Merged: Sendable {
        case revision(Revision)
        case conflicts([String])
    }

    /// `head` merged into `base` in memory; see `Repository.merge`.
    public func merged(head: String, into base: String) throws -> Merged {
        let (b, h) = (try resolve(base), try resolve(head))
        switch try repository.merge(h.id, into: b.id, message: "Merge \(head) into \(base)\n\nThe tree a merge would produce, planned by gantry.\n") {
        case .merged(let commit): return .revision(try revision(at: commit.hex))
        case .conflicts(let paths): return .conflicts(paths)
        }
    }

    /// How many files were decoded so far (cache misses), for tests and benchmarks.
    public var decodeCount: Int { cache.decodes }

    func resolve(_ ref: String?) throws -> CommitInfo {
        let wanted = ref ?? (isRemote ? "main" : "HEAD")
        var candidates = [wanted]
        if isRemote { candidates.insert("refs/remotes/origin/\(wanted)", at: 0) }
        var lastError: GitError?
        for candidate in candidates {
            do { return try repository.resolve(candidate) } catch { lastError = error }
        }
        throw Failure(message: "\(location): cannot resolve \"\(wanted)\": \(lastError?.message ?? "unknown revision")")
    }
}
