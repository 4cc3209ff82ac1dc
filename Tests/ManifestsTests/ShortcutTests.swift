import Foundation
import GantryTestSupport
import Testing

@testable import Manifests

/// Byte-level shortcuts taken for speed must answer exactly as the
/// Character- and Foundation-based code they stand in for.
@Suite struct ShortcutTests {
    @Test func placeholdersFoundFromBytesMatchTheCharacterScan() {
        let texts = [
            "", "plain", "$", "${", "${}", "${x", "}${a}", "$${params.a}", "${a.b.c}", "${.x}", "${x.}",
            "--lr=${params.learning-rate}/${outputs}", "${a}${b.c}tail", "{${}}", "é${params.x}", "${datasets.ünï}",
            "e\u{301}${steps.a}", "${a\u{301}}", "$\u{301}{a}",
        ]
        for text in texts {
            #expect(Placeholder.all(in: text) == Placeholder.scanCharacters(text), "\(text)")
        }
    }

    @Test func addressesParseTheSameFromBytes() {
        for text in ["127.0.0.1:8700", "host:1", ":80", "h:0", "h:65536", "h:-1", "h:+80", "a:b:9", "[::1]:443", "h:", "h", "é:80", "h:8\u{301}0"] {
            let parsed = HostPort(parsing: text)
            var expected: HostPort?
            if let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
                (1...65535).contains(port), colon != text.startIndex
            {
                expected = HostPort(parsing: String(text[..<colon]) + ":\(port)")
            }
            #expect(parsed?.description == expected?.description, "\(text)")
        }
    }

    @Test func theDirectoryWalkFindsWhatFoundationsEnumeratorFinds() throws {
        let root = makeTemporaryDirectory("walk")
        let fm = FileManager.default
        for dir in ["a/b", ".hidden/c", "d.yaml", "e/.git", "f"] {
            try fm.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
        }
        for file in ["top.yaml", "a/x.yml", "a/b/y.yaml", "a/b/z.txt", ".hidden/c/h.yaml", "e/.git/g.yaml", "e/.dot.yaml", "f/k.yaml"] {
            try "k: v\n".write(toFile: root + "/" + file, atomically: false, encoding: .utf8)
        }
        try fm.createSymbolicLink(atPath: root + "/link", withDestinationPath: root + "/f")
        try fm.createSymbolicLink(atPath: root + "/linked.yaml", withDestinationPath: root + "/top.yaml")
        defer { try? fm.removeItem(atPath: root) }

        var expected: [String] = []
        let walker = try #require(fm.enumerator(atPath: root))
        while let relative = walker.nextObject() as? String {
            if (relative as NSString).lastPathComponent.hasPrefix(".") {
                walker.skipDescendants()
                continue
            }
            // A directory named like a manifest is not one.
            if DirectoryLoader.isManifestFile(relative), walker.fileAttributes?[.type] as? FileAttributeType != .typeDirectory {
                expected.append(relative)
            }
        }
        #expect(try DirectoryLoader.manifestFiles(under: root) == expected.sorted())
        #expect(expected.contains("a/b/y.yaml") && expected.contains("linked.yaml") && !expected.contains("d.yaml"))
    }

    @Test func aManifestLinkedFromOutsideTheDirectoryIsReportedAndNeverRead() throws {
        let root = makeTemporaryDirectory("links")
        let elsewhere = makeTemporaryDirectory("elsewhere")
        let fm = FileManager.default
        defer {
            try? fm.removeItem(atPath: root)
            try? fm.removeItem(atPath: elsewhere)
        }
        // A file whose text would show up in a YAML error if it were read.
        try "machine-secret: [unclosed\n".write(toFile: elsewhere + "/secret.yaml", atomically: false, encoding: .utf8)
        try fm.createSymbolicLink(atPath: root + "/stolen.yaml", withDestinationPath: elsewhere + "/secret.yaml")
        try fm.createSymbolicLink(atPath: root + "/device.yaml", withDestinationPath: "/dev/zero")
        try fm.createSymbolicLink(atPath: root + "/relative.yaml", withDestinationPath: "../" + (elsewhere as NSString).lastPathComponent + "/secret.yaml")
        let (set, diagnostics, files) = try DirectoryLoader.load(root)
        #expect(set.count == 0 && files == 3)
        #expect(
            diagnostics.map(\.description)
                == ["device.yaml", "relative.yaml", "stolen.yaml"].map {
                    "\($0):1:1: error: a symbolic link that leaves the directory (or names no regular file); not read"
                })
        #expect(!diagnostics.map(\.description).joined().contains("machine-secret"))
    }

    @Test func parallelMapKeepsTheOrder() {
        let items = Array(0..<1000)
        #expect(Parallel.map(items) { $0 * 2 } == items.map { $0 * 2 })
        #expect(Parallel.map([1, 2]) { $0 + 1 } == [2, 3])
    }
}
