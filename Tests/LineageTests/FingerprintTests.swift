import Crypto
import Foundation
import GantryTestSupport
import Testing

@testable import Lineage
@testable import State

private func directory() -> String {
    let path = makeTemporaryDirectory("gantry-fp")
    try! FileManager.default.createDirectory(atPath: path + "/sub", withIntermediateDirectories: true)
    return path
}

private func sha(_ s: String) -> String { SHA256.hash(data: Data(s.utf8)).hexString }

@Suite struct FingerprintTests {
    @Test func aDirectoryFingerprintIsTheDigestOfSortedPathsAndContentDigests() throws {
        let dir = directory()
        try "b".write(toFile: dir + "/b.csv", atomically: true, encoding: .utf8)
        try "a".write(toFile: dir + "/sub/a.csv", atomically: true, encoding: .utf8)
        try "hidden".write(toFile: dir + "/.cache", atomically: true, encoding: .utf8)
        let expected = "sha256:" + sha(["b.csv\0\(sha("b"))", "sub/a.csv\0\(sha("a"))"].sorted().joined(separator: "\n"))
        #expect(try Fingerprinter(store: nil).fingerprint(localPath: dir, dataset: "d") == expected)
        #expect(try Fingerprinter(store: nil).fingerprint(localPath: dir + "/b.csv", dataset: "d") == "sha256:" + sha("b"))
    }

    @Test func rememberedHashesAreUsedOnlyWhileSizeMtimeAndInodeHold() throws {
        let dir = directory()
        let store = try StateStore(directory: directory())
        for i in 0..<50 { try "row \(i)\n".write(toFile: dir + "/f\(i).csv", atomically: true, encoding: .utf8) }
        let files = LocalFiles(store: store, cacheWrites: true)
        let first = try files.fingerprint(LocalFiles.walk(dir), directory: dir)
        #expect(try store.fileHashes(under: dir + "/").count == 50)

        // A remembered hash is trusted while the file's stat matches it...
        var record = try #require(try store.fileHash(dir + "/f7.csv"))
        record.digest = sha("forged")
        try store.save(record)
        #expect(try files.fingerprint(LocalFiles.walk(dir), directory: dir) != first, "an unchanged stat trusts the record")
        // ...and not once it does not.
        record.mtimeNanos -= 1
        try store.save(record)
        #expect(try files.fingerprint(LocalFiles.walk(dir), directory: dir) == first, "a changed mtime re-reads the file")
    }

    @Test func anUnchangedDirectoryReusesItsFingerprintAndAnyChangeRecomputesIt() throws {
        let dir = directory()
        let store = try StateStore(directory: directory())
        for i in 0..<20 { try "row \(i)\n".write(toFile: dir + "/f\(i).csv", atomically: true, encoding: .utf8) }
        let fingerprinter = Fingerprinter(store: store)
        let first = try fingerprinter.fingerprint(localPath: dir, dataset: "d")
        // Forge a remembered file hash: an unchanged listing never looks at it.
        var record = try #require(try store.fileHash(dir + "/f3.csv"))
        record.digest = sha("forged")
        try store.save(record)
        #expect(try fingerprinter.fingerprint(localPath: dir, dataset: "d") == first)

        try "row X\n".write(toFile: dir + "/f3.csv", atomically: true, encoding: .utf8)
        let changed = try fingerprinter.fingerprint(localPath: dir, dataset: "d")
        #expect(changed != first)
        #expect(try Fingerprinter(store: nil).fingerprint(localPath: dir, dataset: "d") == changed, "the caches agree with a cold read")

        try "new\n".write(toFile: dir + "/sub/g.csv", atomically: true, encoding: .utf8)
        let added = try fingerprinter.fingerprint(localPath: dir, dataset: "d")
        #expect(added != changed)
        #expect(try Fingerprinter(store: nil).fingerprint(localPath: dir, dataset: "d") == added)
    }

    @Test func readOnlyFingerprintingWritesNoHashes() throws {
        let dir = directory()
        try "x".write(toFile: dir + "/x.csv", atomically: true, encoding: .utf8)
        let store = try StateStore(directory: directory())
        _ = try Fingerprinter(store: store, cacheWrites: false).fingerprint(localPath: dir, dataset: "d")
        #expect(try store.fileHashes(under: dir + "/").isEmpty)
        #expect(try store.directoryFingerprint(dir) == nil)
    }

    @Test func parallelHashingMatchesOneByOne() throws {
        let dir = directory()
        var paths: [String] = []
        for i in 0..<37 {
            let p = dir + "/p\(i)"
            try String(repeating: "\(i),", count: i * 1000).write(toFile: p, atomically: true, encoding: .utf8)
            paths.append(p)
        }
        let parallel = try LocalFiles.hashInParallel(paths)
        #expect(parallel == (try paths.map { try Digest.sha256(file: $0) }))
        #expect(throws: Fingerprinter.Failure.self) { try LocalFiles.hashInParallel([dir + "/missing"]) }
    }
}
