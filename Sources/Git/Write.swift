import CGit2
import Foundation

/// Who a commit is by.
public struct Signature: Sendable {
    public var name: String
    public var email: String

    public init(name: String, email: String) {
        self.name = name
        self.email = email
    }
}

extension Repository {
    /// Creates a commit whose tree is `parent`'s with `files` (paths from the
    /// repository root) replaced, and returns its id. No ref, index or work
    /// tree is touched.
    public func commit(replacing files: [String: [UInt8]], parent: ObjectID, message: String, author: Signature) throws(GitError) -> ObjectID {
        try withHandle { repo throws(GitError) in
            var parentOID = parent.oid
            var parentCommit: OpaquePointer?
            try check(git_commit_lookup(&parentCommit, repo, &parentOID), "read commit \(parent.short)")
            defer { git_commit_free(parentCommit) }
            var tree = ObjectID(git_commit_tree_id(parentCommit))
            for (path, bytes) in files.sorted(by: { $0.key < $1.key }) {
                var blob = git_oid()
                let code = bytes.withUnsafeBytes { raw in git_blob_create_from_buffer(&blob, repo, raw.baseAddress, raw.count) }
                try check(code, "write \(path)")
                tree = try Self.replace(
                    repo, in: tree, path: Self.normalise(path).split(separator: "/").map(String.init),
                    with: ObjectID(&blob))
            }
            var treeOID = tree.oid
            var newTree: OpaquePointer?
            try check(git_tree_lookup(&newTree, repo, &treeOID), "read tree")
            defer { git_tree_free(newTree) }
            var signature: UnsafeMutablePointer<git_signature>?
            try check(git_signature_now(&signature, author.name, author.email), "signature")
            defer { git_signature_free(signature) }
            var out = git_oid()
            var parents: [OpaquePointer?] = [parentCommit]
            try check(git_commit_create(&out, repo, nil, signature, signature, nil, message, newTree, 1, &parents), "commit")
            return ObjectID(&out)
        }
    }

    /// `tree` with the blob at `path` replaced, rebuilding the trees above it.
    private static func replace(_ repo: OpaquePointer, in tree: ObjectID?, path: [String], with blob: ObjectID) throws(GitError) -> ObjectID {
        var source: OpaquePointer?
        if let tree {
            var oid = tree.oid
            try check(git_tree_lookup(&source, repo, &oid), "read tree")
        }
        defer { if source != nil { git_tree_free(source) } }
        var builder: OpaquePointer?
        try check(git_treebuilder_new(&builder, repo, source), "tree builder")
        defer { git_treebuilder_free(builder) }
        let name = path[0]
        let existing = source.flatMap { git_tree_entry_byname($0, name) }
        if path.count == 1 {
            var oid = blob.oid
            // Keep an executable file executable.
            let mode = existing.map { git_tree_entry_filemode($0) } ?? GIT_FILEMODE_BLOB
            try check(git_treebuilder_insert(nil, builder, name, &oid, mode), "insert \(name)")
        } else {
            let subtree = existing.flatMap { git_tree_entry_type($0) == GIT_OBJECT_TREE ? ObjectID(git_tree_entry_id($0)) : nil }
            var oid = try replace(repo, in: subtree, path: Array(path.dropFirst()), with: blob).oid
            try check(git_treebuilder_insert(nil, builder, name, &oid, GIT_FILEMODE_TREE), "insert \(name)")
        }
        var out = git_oid()
        try check(git_treebuilder_write(&out, builder), "write tree")
        return ObjectID(&out)
    }

    /// Points a ref at a commit, creating or moving it.
    public func setReference(_ name: String, to commit: ObjectID) throws(GitError) {
        try withHandle { repo throws(GitError) in
            var oid = commit.oid
            var ref: OpaquePointer?
            try check(git_reference_create(&ref, repo, name, &oid, 1, "gantry"), "set \(name)")
            git_reference_free(ref)
        }
    }

    public enum PushOutcome: Sendable, Equatable {
        case pushed
        /// The remote refused the update, usually because the branch moved.
        case rejected(String)
    }

    /// Pushes `refspec` (`src:dst`, `+` to force) to `url`.
    public func push(to url: String, refspec: String, credentials: GitCredentials? = nil) throws(GitError) -> PushOutcome {
        let state = Unmanaged.passRetained(CallbackState(credentials))
        defer { state.release() }
        try withHandle { repo throws(GitError) in
            let remote = try Self.anonymousRemote(repo, url, operation: "push")
            defer { git_remote_free(remote) }
            var options = git_push_options()
            try check(git_push_options_init(&options, UInt32(GIT_PUSH_OPTIONS_VERSION)), "push options")
            state.takeUnretainedValue().install(&options.callbacks, payload: state.toOpaque())
            try withStrArray([refspec]) { array throws(GitError) in
                let code = git_remote_push(remote, array, &options)
                if code == GIT_ENONFASTFORWARD.rawValue {
                    state.takeUnretainedValue().rejection = "non-fast-forward"
                    return
                }
                try check(code, "push to \(url)")
            }
        }
        if let message = state.takeUnretainedValue().rejection { return .rejected(message) }
        return .pushed
    }
}

extension Signature {
    /// The person Git knows on this machine: `user.name` and `user.email`
    /// from the global and system configuration (as `git commit` reads
    /// them), or nil when either is unset. For commits a person asks for,
    /// so that history names them rather than a tool.
    ///
    ///     let who = try Signature.configured() ?? Signature(name: "Gantry", email: "gantry@localhost")
    public static func configured() throws(GitError) -> Signature? {
        try GitLibrary.ready()
        var config: OpaquePointer?
        guard git_config_open_default(&config) == 0, let config else { return nil }
        defer { git_config_free(config) }
        func read(_ key: String) -> String? {
            var buffer = git_buf()
            defer { git_buf_dispose(&buffer) }
            guard git_config_get_string_buf(&buffer, config, key) == 0, let text = buffer.ptr else { return nil }
            let value = String(cString: text).trimmingCharacters(in: .whitespaces)
            return value.isEmpty ? nil : value
        }
        guard let name = read("user.name"), let email = read("user.email") else { return nil }
        return Signature(name: name, email: email)
    }
}
