import CGit2
import Foundation

extension Repository {
    /// Fetches every branch and tag of `url` into `refs/remotes/origin/*` and
    /// `refs/tags/*`, pruning refs deleted upstream. Returns when the objects
    /// are stored; nothing is checked out.
    public func fetch(from url: String) throws(GitError) {
        try withHandle { repo throws(GitError) in
            var remote: OpaquePointer?
            try check(git_remote_create_anonymous(&remote, repo, url), "fetch \(url)")
            defer { git_remote_free(remote) }
            var options = git_fetch_options()
            try check(git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION)), "fetch options")
            options.prune = GIT_FETCH_PRUNE
            options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL
            let specs = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]
            try withStrArray(specs) { array throws(GitError) in
                try check(git_remote_fetch(remote, array, &options, "gantry fetch"), "fetch \(url)")
            }
        }
    }
}

/// Calls `body` with a `git_strarray` view of `strings`, valid only inside.
func withStrArray<T>(_ strings: [String], _ body: (UnsafeMutablePointer<git_strarray>) throws(GitError) -> T) throws(GitError) -> T {
    var cStrings = strings.map { strdup($0) }
    defer { cStrings.forEach { free($0) } }
    return try cStrings.withUnsafeMutableBufferPointer { buffer throws(GitError) in
        var array = git_strarray(strings: buffer.baseAddress, count: buffer.count)
        return try body(&array)
    }
}
