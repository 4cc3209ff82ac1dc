import CGit2

extension Repository {
    /// Commits reachable from `head` but not from `base`, newest first; when
    /// `path` is given, only those that changed it (compared with their first
    /// parent).
    public func commits(from head: ObjectID, excluding base: ObjectID?, touching path: String? = nil) throws(GitError) -> [CommitInfo] {
        let commits: [CommitInfo] = try withHandle { repo throws(GitError) in
            var walk: OpaquePointer?
            try check(git_revwalk_new(&walk, repo), "walk history")
            defer { git_revwalk_free(walk) }
            git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_TIME.rawValue)
            var headOID = head.oid
            try check(git_revwalk_push(walk, &headOID), "walk from \(head.short)")
            if let base {
                var baseOID = base.oid
                try check(git_revwalk_hide(walk, &baseOID), "hide \(base.short)")
            }
            var out: [CommitInfo] = []
            var oid = git_oid()
            while git_revwalk_next(&oid, walk) == 0 {
                var commit: OpaquePointer?
                try check(git_commit_lookup(&commit, repo, &oid), "read commit")
                out.append(Self.info(commit: commit!))
                git_commit_free(commit)
            }
            return out
        }
        guard let path else { return commits }
        var touched: [CommitInfo] = []
        for c in commits {
            let mine = try entry(inTree: c.tree, at: path)
            if let parent = c.parents.first {
                if try entry(inTree: try resolve(parent.hex).tree, at: path) != mine { touched.append(c) }
            } else if mine != nil {
                touched.append(c)
            }
        }
        return touched
    }
}
