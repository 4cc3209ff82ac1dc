import Foundation
import Testing

@testable import Lineage

/// The snapshot manifest is written by hand (JSONEncoder is slow on 10,000
/// files): what it writes must decode back to the same manifest, whatever
/// the file names hold.
@Suite struct SnapshotManifestTests {
    @Test func aManifestWrittenByHandDecodesBackWithAwkwardNames() throws {
        let names = ["plain.csv", "with \"quotes\".csv", "back\\slash", "new\nline", "tab\there", "bell\u{07}", "ünïcødé/日本.csv", "emoji 🙂.tsv", ""]
        let manifest = SnapshotStore.Manifest(
            dataset: "events \"2026\"", fingerprint: "etag:W/\"5f3a\"",
            files: names.enumerated().map { SnapshotStore.Manifest.File(path: $1, digest: "sha256:" + String(repeating: "a", count: 64), size: Int64($0)) },
            name: "rows.csv")
        let text = SnapshotStore.json(manifest)
        let decoded = try JSONDecoder().decode(SnapshotStore.Manifest.self, from: Data(text.utf8))
        #expect(decoded == manifest)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let reference = try JSONDecoder().decode(SnapshotStore.Manifest.self, from: encoder.encode(manifest))
        #expect(reference == decoded)
        var unnamed = manifest
        unnamed.name = nil
        #expect(try JSONDecoder().decode(SnapshotStore.Manifest.self, from: Data(SnapshotStore.json(unnamed).utf8)) == unnamed)
    }

    @Test func aFingerprintThatIsNotAHashGetsAFileNameOfItsHash() {
        let hash = "sha256:" + String(repeating: "0f", count: 32)
        #expect(SnapshotStore.fileKey(hash) == String(repeating: "0f", count: 32))
        let etag = SnapshotStore.fileKey("etag:W/\"../../x\"")
        #expect(etag.hasPrefix("x-") && etag.count == 66 && !etag.contains("/"))
        #expect(SnapshotStore.fileKey("sha256:../../etc") != "../../etc")
    }
}
