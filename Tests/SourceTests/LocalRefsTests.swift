import Foundation
import GantryTestSupport
import Git
import Testing

/// `LocalRefs` reads refs from Git's files; `git rev-parse` is the oracle:
/// every answer it gives must be Git's, and where it cannot be sure it
/// must say nil rather than guess.
@Suite struct LocalRefsTests {
    private func revParse(_ ref: String, in repo: String) async throws -> ObjectID? {
        let parsed = try await runCommand(["git", "rev-parse", "--verify", "--quiet", ref], in: repo, timeout: .seconds(60))
        guard parsed.status.succeeded else { return nil }
        return ObjectID(hex: parsed.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private func repository() async throws -> String {
        let repo = makeTemporaryDirectory("local-refs")
        try await git(["init", "-q", "-b", "main"], in: repo)
        for n in 1...3 {
            try "\(n)\n".write(toFile: repo + "/file", atomically: true, encoding: .utf8)
            try await git(["add", "file"], in: repo)
            try await git(["commit", "-qm", "commit \(n)"], in: repo)
        }
        try await git(["branch", "feature", "HEAD~1"], in: repo)
        try await git(["tag", "light", "HEAD~2"], in: repo)
        try await git(["tag", "-a", "-m", "annotated", "release", "HEAD~1"], in: repo)
        // A branch and a tag of one name: Git prefers the tag.
        try await git(["branch", "twin", "HEAD~2"], in: repo)
        try await git(["tag", "twin", "HEAD"], in: repo)
        try await git(["update-ref", "refs/remotes/origin/main", "HEAD~1"], in: repo)
        try await git(["symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"], in: repo)
        return repo
    }

    private let refs: [String?] = [
        nil, "HEAD", "main", "feature", "light", "release", "twin", "origin", "origin/main",
        "refs/heads/feature", "tags/light", "heads/twin",
    ]

    @Test func everyRefResolvesAsGitResolvesIt() async throws {
        let repo = try await repository()
        for ref in refs {
            let expected = try await revParse(ref ?? "HEAD", in: repo)
            #expect(expected != nil)
            #expect(LocalRefs.target(of: ref, in: repo) == expected, "\(ref ?? "nil")")
        }
        // The same once every ref is packed into packed-refs, and with HEAD detached.
        try await git(["pack-refs", "--all"], in: repo)
        #expect(!FileManager.default.fileExists(atPath: repo + "/.git/refs/heads/main"))
        for ref in refs {
            #expect(LocalRefs.target(of: ref, in: repo) == (try await revParse(ref ?? "HEAD", in: repo)), "packed \(ref ?? "nil")")
        }
        try await git(["checkout", "-q", "--detach", "feature"], in: repo)
        #expect(LocalRefs.target(of: nil, in: repo) == (try await revParse("feature", in: repo)))
        // A loose ref written after packing wins over its packed line.
        try await git(["update-ref", "refs/heads/feature", "main"], in: repo)
        #expect(LocalRefs.target(of: "feature", in: repo) == (try await revParse("main", in: repo)))
        // A full id is itself; a bare repository reads the same.
        let id = try #require(try await revParse("main", in: repo))
        #expect(LocalRefs.target(of: id.hex, in: repo) == id)
        let bare = makeTemporaryDirectory("local-refs-bare")
        try await git(["clone", "-q", "--bare", repo, bare + "/r.git"], in: bare)
        #expect(LocalRefs.target(of: "main", in: bare + "/r.git") == id)
    }

    @Test func whatTheFilesCannotSettleIsLeftToLibgit2() async throws {
        let repo = try await repository()
        let id = try #require(try await revParse("main", in: repo))
        for expression in ["main~1", "main^", "HEAD@{0}", String(id.hex.prefix(12)), "no-such-ref", "", "../main", "config"] {
            #expect(LocalRefs.target(of: expression, in: repo) == nil, "\(expression)")
        }
        // A linked worktree's `.git` is a file pointing elsewhere.
        let worktree = makeTemporaryDirectory("local-refs-worktree") + "/w"
        try await git(["worktree", "add", "-q", worktree, "feature"], in: repo)
        #expect(LocalRefs.target(of: nil, in: worktree) == nil)
        // Replace refs change what a commit id reads as.
        try await git(["replace", "main", "feature"], in: repo)
        #expect(LocalRefs.target(of: "main", in: repo) == nil)
        // An unborn branch, and a directory that is no repository.
        let empty = makeTemporaryDirectory("local-refs-empty")
        try await git(["init", "-q", "-b", "main"], in: empty)
        #expect(LocalRefs.target(of: nil, in: empty) == nil)
        #expect(LocalRefs.target(of: nil, in: makeTemporaryDirectory("local-refs-none")) == nil)
    }
}
