import Crypto
import Foundation
import GantryTestSupport
import Testing

@testable import FileTree
@testable import Lineage

@Suite struct DirectoryListingTests {
    /// A tree big enough that its directories are read in several batches
    /// and stat-ed on several threads.
    private func tree() throws -> (root: String, files: Set<String>) {
        let root = makeTemporaryDirectory("gantry-listing")
        let fm = FileManager.default
        for dir in ["", "/part-b", "/part-b/deeper", "/.cache"] {
            try fm.createDirectory(atPath: root + dir, withIntermediateDirectories: true)
        }
        var files: Set<String> = []
        for i in 0..<1300 {
            try "\(i)\n".write(toFile: root + "/f\(i).csv", atomically: false, encoding: .utf8)
            files.insert("f\(i).csv")
        }
        for i in 0..<700 {
            try "b\(i)\n".write(toFile: root + "/part-b/g\(i).csv", atomically: false, encoding: .utf8)
            files.insert("part-b/g\(i).csv")
        }
        try "deep\n".write(toFile: root + "/part-b/deeper/h.csv", atomically: false, encoding: .utf8)
        files.insert("part-b/deeper/h.csv")
        // Hidden entries are not data; a symbolic link is followed.
        try "x".write(toFile: root + "/.cache/skip.csv", atomically: false, encoding: .utf8)
        try "x".write(toFile: root + "/.hidden.csv", atomically: false, encoding: .utf8)
        try fm.createSymbolicLink(atPath: root + "/link.csv", withDestinationPath: root + "/f1.csv")
        files.insert("link.csv")
        return (root, files)
    }

    @Test func everyRegularFileIsListedOnceWithItsStatAndHiddenEntriesAreNot() throws {
        let (root, expected) = try tree()
        let listing = DirectoryListing.scan(root + "/")
        let paths = (0..<listing.count).map(listing.relative)
        #expect(paths.count == expected.count)
        #expect(Set(paths) == expected)
        for (i, path) in paths.enumerated() where i % 97 == 0 || path.contains("deeper") || path == "link.csv" {
            var st = stat()
            #expect(stat(root + "/" + path, &st) == 0)
            #expect(listing.identity(i).size == Int64(st.st_size), "\(path)")
            #expect(listing.identity(i).inode == Int64(st.st_ino), "\(path)")
            #expect(listing.identity(i).mtimeNanos == Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec), "\(path)")
        }
        // Depth first: a subdirectory's files come together, its own
        // subdirectory's inside them.
        let inB = paths.indices.filter { paths[$0].hasPrefix("part-b/") }
        #expect(inB.last! - inB.first! == inB.count - 1)
    }

    /// The signature is the one remembered by earlier versions (identity
    /// bytes, then the path and a NUL, per file): a directory fingerprinted
    /// before is not hashed again after an upgrade.
    @Test func theSignatureCoversPathAndStatOfEveryFileAndMovesWithAnyOfThem() throws {
        let (root, _) = try tree()
        let listing = DirectoryListing.scan(root)
        var hasher = SHA256()
        for i in 0..<listing.count {
            var identity = (listing.identity(i).size, listing.identity(i).mtimeNanos, listing.identity(i).inode)
            withUnsafeBytes(of: &identity) { hasher.update(bufferPointer: $0) }
            hasher.update(data: Array(listing.relative(i).utf8) + [0])
        }
        #expect(listing.signature == hasher.finalize().hexString)
        #expect(DirectoryListing.scan(root).signature == listing.signature)

        var times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, root + "/part-b/g650.csv", &times, 0) == 0)
        #expect(DirectoryListing.scan(root).signature != listing.signature, "one changed mtime")
    }

    @Test func anEmptyOrMissingDirectoryListsNothing() throws {
        let root = NSTemporaryDirectory() + "gantry-listing-\(UUID().uuidString.prefix(8))"
        #expect(DirectoryListing.scan(root).count == 0)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        #expect(DirectoryListing.scan(root).count == 0)
    }
}
