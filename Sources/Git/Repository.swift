import CGit2
import Foundation

/// A Git repository opened through libgit2. The handle is owned here and
/// freed on deinit; every call holds the lock, because a libgit2 repository
/// handle must not be used from two threads at once (hence the checked
/// `@unchecked Sendable`).
///
///     let repo = try Repository.open(at: "/srv/models")
///     let commit = try repo.resolve("main")
///     let files = try repo.files(inTree: commit.tree, under: "models")
public final class Repository: @unchecked Sendable {
    /// Replaced only by `compactPacks`, with `lock` held.
    var pointer: OpaquePointer
    let lock = NSLock()
    public let path: String
    /// The repository's Git directory (`path` itself when bare).
    public let gitDirectory: String
    /// Anonymous remotes by URL, made once and reused for every fetch (see
    /// `anonymousRemote` for what making one used to leak). Only touched
    /// with `lock` held.
    var remotes: [String: OpaquePointer] = [:]

    private init(pointer: OpaquePointer, path: String) {
        self.pointer = pointer
        self.path = path
        self.gitDirectory = String(cString: git_repository_path(pointer))
    }

    deinit {
        remotes.values.forEach { git_remote_free($0) }
        git_repository_free(pointer)
    }

    /// Opens a repository at `path` (a work tree or a bare repository).
    public static func open(at path: String) throws(GitError) -> Repository {
        try GitLibrary.ready()
        var pointer: OpaquePointer?
        try check(git_repository_open_ext(&pointer, path, UInt32(GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue), nil), "open \(path)")
        return Repository(pointer: pointer!, path: path)
    }

    /// Creates (or opens) a bare repository used as a fetch cache.
    public static func openOrInitBare(at path: String) throws(GitError) -> Repository {
        try GitLibrary.ready()
        if FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("HEAD")) {
            return try open(at: path)
        }
        var pointer: OpaquePointer?
        try check(git_repository_init(&pointer, path, 1), "init \(path)")
        return Repository(pointer: pointer!, path: path)
    }

    func withHandle<T>(_ body: (OpaquePointer) throws(GitError) -> T) throws(GitError) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(pointer)
    }

    /// The anonymous remote for `url`, with the repository handle; the lock
    /// is held for the whole of `body`. A remote whose operation failed is
    /// dropped, so the next call starts from a fresh one.
    func withRemote<T>(_ url: String, operation: String, _ body: (OpaquePointer, OpaquePointer) throws(GitError) -> T) throws(GitError) -> T {
        lock.lock()
        defer { lock.unlock() }
        let remote: OpaquePointer
        if let known = remotes[url] {
            remote = known
        } else {
            remote = try Self.anonymousRemote(pointer, url, operation: operation)
            remotes[url] = remote
        }
        do {
            return try body(pointer, remote)
        } catch {
            remotes[url] = nil
            git_remote_free(remote)
            throw error
        }
    }

    /// A remote for `url` that is not in the configuration, made without
    /// looking `url.*.insteadOf` up: in libgit2 1.5 that lookup leaks its
    /// PCRE2 match data, 10 to 20 KB each time, which `compactPacks` (a new
    /// handle, so new remotes) and every write-back push would pay. Gantry
    /// fetches the URL it was given, as written.
    static func anonymousRemote(_ repo: OpaquePointer, _ url: String, operation: String) throws(GitError) -> OpaquePointer {
        var options = git_remote_create_options()
        try check(git_remote_create_options_init(&options, UInt32(GIT_REMOTE_CREATE_OPTIONS_VERSION)), "remote options")
        options.repository = repo
        options.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF.rawValue
        var created: OpaquePointer?
        try check(git_remote_create_with_opts(&created, url, &options), "\(operation) \(url)")
        return created!
    }

    public var isBare: Bool {
        (try? withHandle { repo throws(GitError) in git_repository_is_bare(repo) == 1 }) ?? false
    }

    // MARK: - Revisions

    /// Resolves a branch, tag, `origin/main`, `HEAD` or a commit id to a commit.
    public func resolve(_ revision: String) throws(GitError) -> CommitInfo {
        try withHandle { repo throws(GitError) in
            var object: OpaquePointer?
            try check(git_revparse_single(&object, repo, revision), "resolve \"\(revision)\"")
            defer { git_object_free(object) }
            var peeled: OpaquePointer?
            try check(git_object_peel(&peeled, object, GIT_OBJECT_COMMIT), "resolve \"\(revision)\" to a commit")
            defer { git_object_free(peeled) }
            return Self.info(commit: peeled!)
        }
    }

    static func info(commit: OpaquePointer) -> CommitInfo {
        let author = git_commit_author(commit)!.pointee
        let parents = (0..<git_commit_parentcount(commit)).compactMap { git_commit_parent_id(commit, $0).map(ObjectID.init) }
        return CommitInfo(
            id: ObjectID(git_commit_id(commit)),
            tree: ObjectID(git_commit_tree_id(commit)),
            authorName: String(cString: author.name),
            authorEmail: String(cString: author.email),
            time: author.when.time,
            message: git_commit_message(commit).map { String(cString: $0) } ?? "",
            parents: parents)
    }

    // MARK: - Trees and blobs

    /// The id of the tree or blob at `path` inside `tree`; nil when absent.
    /// An empty path is the tree itself.
    public func entry(inTree tree: ObjectID, at path: String) throws(GitError) -> ObjectID? {
        let path = Self.normalise(path)
        if path.isEmpty { return tree }
        return try withHandle { repo throws(GitError) in
            let t = try Self.lookupTree(repo, tree)
            defer { git_tree_free(t) }
            var entry: OpaquePointer?
            let code = git_tree_entry_bypath(&entry, t, path)
            if code == GIT_ENOTFOUND.rawValue { return nil }
            try check(code, "look up \(path)")
            defer { git_tree_entry_free(entry) }
            return ObjectID(git_tree_entry_id(entry))
        }
    }

    /// Every blob under `path` of `tree`, recursively, with paths relative to
    /// `path`. An absent path lists nothing.
    public func files(inTree tree: ObjectID, under path: String = "") throws(GitError) -> [TreeFile] {
        guard let root = try entry(inTree: tree, at: path) else { return [] }
        return try withHandle { repo throws(GitError) in
            var out: [TreeFile] = []
            try Self.walk(repo, root, prefix: "", into: &out)
            return out
        }
    }

    /// The files that differ between two trees, with paths relative to
    /// them: unchanged subtrees are skipped by id, not walked. A rename is
    /// a removal and an addition; submodules are not files.
    public func changedFiles(from old: ObjectID, to new: ObjectID) throws(GitError) -> [TreeChange] {
        try withHandle { repo throws(GitError) in
            let a = try Self.lookupTree(repo, old)
            defer { git_tree_free(a) }
            let b = try Self.lookupTree(repo, new)
            defer { git_tree_free(b) }
            var diff: OpaquePointer?
            try check(git_diff_tree_to_tree(&diff, repo, a, b, nil), "compare trees \(old.short) and \(new.short)")
            defer { git_diff_free(diff) }
            func blob(_ file: git_diff_file) -> ObjectID? {
                let mode = UInt32(file.mode)
                guard mode != 0, mode != GIT_FILEMODE_COMMIT.rawValue, mode != GIT_FILEMODE_TREE.rawValue else { return nil }
                var id = file.id
                return ObjectID(&id)
            }
            var out: [TreeChange] = []
            for i in 0..<git_diff_num_deltas(diff) {
                guard let delta = git_diff_get_delta(diff, i)?.pointee else { continue }
                let path = String(cString: (delta.new_file.path ?? delta.old_file.path)!)
                let change = TreeChange(path: path, old: blob(delta.old_file), new: blob(delta.new_file))
                if change.old != nil || change.new != nil { out.append(change) }
            }
            return out
        }
    }

    private static func walk(_ repo: OpaquePointer, _ id: ObjectID, prefix: String, into out: inout [TreeFile]) throws(GitError) {
        let tree = try lookupTree(repo, id)
        defer { git_tree_free(tree) }
        for i in 0..<git_tree_entrycount(tree) {
            guard let e = git_tree_entry_byindex(tree, i) else { continue }
            let name = String(cString: git_tree_entry_name(e))
            let child = ObjectID(git_tree_entry_id(e))
            switch git_tree_entry_type(e) {
            case GIT_OBJECT_TREE:
                try walk(repo, child, prefix: prefix + name + "/", into: &out)
            case GIT_OBJECT_BLOB:
                out.append(TreeFile(path: prefix + name, blob: child, mode: git_tree_entry_filemode(e).rawValue))
            default:
                continue  // submodules are not followed
            }
        }
    }

    private static func lookupTree(_ repo: OpaquePointer, _ id: ObjectID) throws(GitError) -> OpaquePointer {
        var oid = id.oid
        var tree: OpaquePointer?
        try check(git_tree_lookup(&tree, repo, &oid), "read tree \(id.short)")
        return tree!
    }

    /// The bytes of a blob.
    public func blob(_ id: ObjectID) throws(GitError) -> [UInt8] {
        try withHandle { repo throws(GitError) in
            var oid = id.oid
            var blob: OpaquePointer?
            try check(git_blob_lookup(&blob, repo, &oid), "read blob \(id.short)")
            defer { git_blob_free(blob) }
            let size = Int(git_blob_rawsize(blob))
            guard size > 0, let raw = git_blob_rawcontent(blob) else { return [] }
            return Array(UnsafeRawBufferPointer(start: raw, count: size))
        }
    }

    /// Writes the files of `tree` into `directory` (which need not be empty),
    /// without touching this repository's own work tree or index.
    public func checkout(tree: ObjectID, into directory: String) throws(GitError) {
        try withHandle { repo throws(GitError) in
            var oid = tree.oid
            var object: OpaquePointer?
            try check(git_object_lookup(&object, repo, &oid, GIT_OBJECT_TREE), "read tree \(tree.short)")
            defer { git_object_free(object) }
            var options = git_checkout_options()
            try check(git_checkout_options_init(&options, UInt32(GIT_CHECKOUT_OPTIONS_VERSION)), "checkout options")
            options.checkout_strategy = GIT_CHECKOUT_FORCE.rawValue | GIT_CHECKOUT_DONT_UPDATE_INDEX.rawValue
            let dir = strdup(directory)
            defer { free(dir) }
            options.target_directory = UnsafePointer(dir)
            try check(git_checkout_tree(repo, object, &options), "check out \(tree.short) into \(directory)")
        }
    }

    static func normalise(_ path: String) -> String {
        path.split(separator: "/").filter { $0 != "." && !$0.isEmpty }.joined(separator: "/")
    }
}
