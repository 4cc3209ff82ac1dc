import Foundation
import GantryTestSupport
import Testing

@testable import Git
@testable import Source

/// A developer's clone and the bare repository it pushes to, which a
/// source follows over `file://`: every fetch leaves one pack in the
/// source's cache, as it does over git://.
private struct Upstream {
    let clone: String
    let bare: String
    var url: String { "file://" + bare }

    static func make() async throws -> Upstream {
        let root = makeTemporaryDirectory("upstream")
        let clone = root + "/clone"
        let bare = root + "/models.git"
        try FileManager.default.createDirectory(atPath: clone + "/models", withIntermediateDirectories: true)
        try await git(["init", "-q", "-b", "main"], in: clone)
        try await git(["init", "-q", "--bare", bare], in: root)
        // The first commit is the largest: its pack is the one left alone.
        let notes = (0..<2000).map { _ in UUID().uuidString }.joined(separator: "\n")  // does not compress away
        try notes.write(toFile: clone + "/NOTES.md", atomically: true, encoding: .utf8)
        let upstream = Upstream(clone: clone, bare: bare)
        try await upstream.commitModel(0)
        return upstream
    }

    /// Commits and pushes a Model file `m<n>.yaml`; returns the commit id.
    @discardableResult
    func commitModel(_ n: Int) async throws -> String {
        let text = "apiVersion: gantry.dev/v1alpha1\nkind: Model\nmetadata: { name: m\(n) }\nspec: { pipeline: p, target: local }\n"
        try text.write(toFile: clone + "/models/m\(n).yaml", atomically: true, encoding: .utf8)
        try await git(["add", "-A"], in: clone)
        try await git(["commit", "-qm", "Add m\(n)"], in: clone)
        try await git(["push", "-q", "--follow-tags", bare, "main"], in: clone)
        return try Repository.open(at: clone).resolve("HEAD").id.hex
    }
}

@Suite struct PackCompactionTests {
    @Test func aCacheFetchedOncePerPushKeepsAFewPacksAndReadsEveryRevision() async throws {
        let upstream = try await Upstream.make()
        let source = try GitSource(location: upstream.url, ref: "main", path: "", cacheDirectory: makeTemporaryDirectory("cache"))
        let first = try source.fetch()
        let firstPack = try #require(source.repository.packFiles.first)
        var commits = [first.commit.id.hex]
        var mostPacks = 0
        let last = GitSource.packLimit + 8
        for n in 1...last {
            // Last: once the cache holds an annotated tag, libgit2's local
            // transport sends the whole history on every fetch.
            if n == last { try await git(["tag", "-a", "reviewed", "-m", "Reviewed by Grace"], in: upstream.clone) }
            commits.append(try await upstream.commitModel(n))
            _ = try source.fetch()
            mostPacks = max(mostPacks, source.repository.packFiles.count)
        }
        // One pack a fetch would make 25; the packs past the limit were
        // merged into one, next to the first fetch's (the largest).
        #expect(mostPacks == GitSource.packLimit)
        let packs = source.repository.packFiles
        #expect(packs.count < GitSource.packLimit)
        #expect(packs.contains(firstPack))
        #expect(source.takeCompactionProblem() == nil)
        // Every commit fetched is still there, each with its models, and
        // the annotated tag still names its commit.
        for (n, commit) in commits.enumerated() {
            let revision = try source.revision(at: commit)
            #expect(revision.manifests.models.count == n + 1, "at \(commit)")
        }
        #expect(try source.repository.resolve("refs/tags/reviewed").id.hex == commits[last - 1])
        // A revision taken before the handle was reopened still reads its tree.
        #expect(try source.repository.entry(inTree: first.commit.tree, at: "models/m0.yaml") != nil)
    }

    @Test func aPackThatCannotBeWrittenLeavesEveryPackAndObjectInPlace() async throws {
        let upstream = try await Upstream.make()
        let source = try GitSource(location: upstream.url, ref: "main", path: "", cacheDirectory: makeTemporaryDirectory("cache"))
        var commits = [try source.fetch().commit.id.hex]
        for n in 1...3 {
            commits.append(try await upstream.commitModel(n))
            try source.update()
        }
        let repository = source.repository
        let before = repository.packFiles
        #expect(before.count == 4)

        let nowhere = makeTemporaryDirectory("gone") + "/no/such/directory"
        #expect(throws: GitError.self) { try repository.compactPacks(above: 1, writingTo: nowhere) }
        do { try repository.compactPacks(above: 1, writingTo: nowhere) } catch {
            #expect(error.description.contains(nowhere), "\(error)")
        }
        #expect(repository.packFiles == before)
        for commit in commits { #expect(try repository.resolve(commit).id.hex == commit) }

        // Under the limit nothing happens; over it, the three small packs
        // become one, next to the first fetch's.
        #expect(try repository.compactPacks(above: 4) == false)
        #expect(try repository.compactPacks(above: 2))
        #expect(repository.packFiles.count == 2)
        for (n, commit) in commits.enumerated() {
            #expect(try source.revision(at: commit).manifests.models.count == n + 1)
        }
    }

    @Test func aFetchThatDoesNotCompactLeavesItToCompactCache() async throws {
        let upstream = try await Upstream.make()
        let source = try GitSource(location: upstream.url, ref: "main", path: "", cacheDirectory: makeTemporaryDirectory("cache"))
        var commits = [try source.fetch(compacting: false).commit.id.hex]
        for n in 1...GitSource.packLimit {
            commits.append(try await upstream.commitModel(n))
            _ = try source.fetch(compacting: false)
        }
        #expect(source.repository.packFiles.count == GitSource.packLimit + 1)
        #expect(source.compactCache())
        #expect(source.repository.packFiles.count == 2)
        #expect(source.compactCache() == false)
        for (n, commit) in commits.enumerated() {
            #expect(try source.revision(at: commit).manifests.models.count == n + 1)
        }
    }

    /// Sizes in ascending order, as `compactPacks` passes them.
    @Test(arguments: [
        // Equal small packs next to a clone's: the small ones.
        ([10, 10, 10, 10, 5000], 3, 4),
        // An earlier merge smaller than twice the new packs goes with them.
        ([10, 10, 10, 10, 50, 5000], 3, 5),
        // One at least twice their size stays.
        ([10, 10, 10, 10, 80, 5000], 3, 4),
        // Every pack smaller than twice what is merged below it goes too.
        ([10, 10, 10, 10, 40, 100, 5000], 4, 6),
        // A progression longer than the limit: the smallest, until half
        // the limit remain.
        ([1, 4, 16, 64, 256, 1024], 4, 5),
        ([1, 4, 16, 64, 256, 1024, 4096, 16384], 6, 6),
        // Merging those may roll up the rest of a twofold progression.
        ([1, 2, 4, 8, 16, 32], 4, 6),
        // All alike: every one.
        ([7, 7, 7], 2, 3),
    ])
    func theSmallerPacksAreMergedAsAGeometricRepackWould(sizes: [Int], limit: Int, merged: Int) {
        #expect(Repository.packsToMerge(sizes: sizes, limit: limit) == merged)
    }
}
