import CGit2
import Foundation

/// What merging one commit into another produces, as a forge's merge ref
/// does for a pull request: a commit, or the paths that conflict.
public enum MergeOutcome: Sendable, Equatable {
    /// A commit whose tree is the merge, with `base` and `head` as parents.
    /// When one contains the other, the tree is the later one's.
    case merged(ObjectID)
    /// The paths both sides changed in ways that do not combine.
    case conflicts([String])
}

extension Repository {
    /// Merges `head` into `base` (libgit2's merge of the two trees over
    /// their merge base) and makes the result a commit that no ref names.
    /// Every object it writes stays in this process's memory (a mempack
    /// backend in front of the repository's own), so the repository on disk
    /// is not touched: no object, index, work tree or ref.
    public func merge(_ head: ObjectID, into base: ObjectID, message: String) throws(GitError) -> MergeOutcome {
        try withHandle { repo throws(GitError) in
            var odb: OpaquePointer?
            try check(git_repository_odb(&odb, repo), "open the object database")
            defer { git_odb_free(odb) }
            var memory: OpaquePointer?
            try check(git_mempack_new(&memory), "keep objects in memory")
            try check(git_odb_add_backend(odb, memory, 1000), "keep objects in memory")
            var (baseOID, headOID) = (base.oid, head.oid)
            var ancestorOID = git_oid()
            let found = git_merge_base(&ancestorOID, repo, &baseOID, &headOID)
            // No merge base (unrelated histories) merges over an empty tree.
            if found != Int32(GIT_ENOTFOUND.rawValue) { try check(found, "find the merge base") }
            // One contains the other: the merge is the later tree.
            if found == 0, ObjectID(&ancestorOID) == head { return .merged(base) }
            var baseCommit: OpaquePointer?
            var headCommit: OpaquePointer?
            try check(git_commit_lookup(&baseCommit, repo, &baseOID), "read commit \(base.short)")
            defer { git_commit_free(baseCommit) }
            try check(git_commit_lookup(&headCommit, repo, &headOID), "read commit \(head.short)")
            defer { git_commit_free(headCommit) }
            var tree: OpaquePointer?
            if found == 0, ObjectID(&ancestorOID) == base {
                try check(git_commit_tree(&tree, headCommit), "read tree of \(head.short)")
            } else {
                var ancestorTree: OpaquePointer?
                if found == 0 {
                    var ancestorCommit: OpaquePointer?
                    try check(git_commit_lookup(&ancestorCommit, repo, &ancestorOID), "read the merge base")
                    defer { git_commit_free(ancestorCommit) }
                    try check(git_commit_tree(&ancestorTree, ancestorCommit), "read the merge base's tree")
                }
                defer { if ancestorTree != nil { git_tree_free(ancestorTree) } }
                var (ours, theirs): (OpaquePointer?, OpaquePointer?) = (nil, nil)
                try check(git_commit_tree(&ours, baseCommit), "read tree of \(base.short)")
                defer { git_tree_free(ours) }
                try check(git_commit_tree(&theirs, headCommit), "read tree of \(head.short)")
                defer { git_tree_free(theirs) }
                var index: OpaquePointer?
                try check(git_merge_trees(&index, repo, ancestorTree, ours, theirs, nil), "merge \(head.short) into \(base.short)")
                defer { git_index_free(index) }
                if git_index_has_conflicts(index) == 1 {
                    return .conflicts(try Self.conflictPaths(index!))
                }
                var treeOID = git_oid()
                try check(git_index_write_tree_to(&treeOID, index, repo), "write the merged tree")
                try check(git_tree_lookup(&tree, repo, &treeOID), "read the merged tree")
            }
            defer { git_tree_free(tree) }
            var signature: UnsafeMutablePointer<git_signature>?
            try check(git_signature_now(&signature, "gantry", "gantry@localhost"), "signature")
            defer { git_signature_free(signature) }
            var out = git_oid()
            var parents: [OpaquePointer?] = [baseCommit, headCommit]
            try check(git_commit_create(&out, repo, nil, signature, signature, nil, message, tree, 2, &parents), "write the merge commit")
            return .merged(ObjectID(&out))
        }
    }

    static func conflictPaths(_ index: OpaquePointer) throws(GitError) -> [String] {
        var iterator: OpaquePointer?
        try check(git_index_conflict_iterator_new(&iterator, index), "list conflicts")
        defer { git_index_conflict_iterator_free(iterator) }
        var paths: Set<String> = []
        var ancestor: UnsafePointer<git_index_entry>?
        var ours: UnsafePointer<git_index_entry>?
        var theirs: UnsafePointer<git_index_entry>?
        while git_index_conflict_next(&ancestor, &ours, &theirs, iterator) == 0 {
            for entry in [ancestor, ours, theirs] {
                if let path = entry?.pointee.path { paths.insert(String(cString: path)) }
            }
        }
        return paths.sorted()
    }
}
