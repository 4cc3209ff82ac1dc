import Foundation
import Testing

@testable import State

/// Plans read every version on each reconcile from memory; the cache must
/// still see every write, whoever makes it.
@Suite struct VersionCacheTests {
    func version(_ model: String, _ n: Int, digest: String) -> VersionRecord {
        VersionRecord(
            model: model, number: n, digest: digest, lineage: "{}", metrics: "{}", artifactPath: "/a", artifactDigest: "sha256:a",
            commit: "c", gatesPassed: true, gateReport: "no gates", createdAt: Date())
    }

    @Test func versionsWrittenByThisStoreOrAnotherProcessAreSeenAndUnchangedReadsComeFromMemory() throws {
        let directory = NSTemporaryDirectory() + "gantry-version-cache-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let controller = try StateStore(directory: directory)
        #expect(try controller.versionsByModel().isEmpty)

        _ = try controller.registerVersion { self.version("churn", $0, digest: "sha256:1") }
        #expect(try controller.versionsByModel()["churn"]?.map(\.number) == [1], "its own write")

        // Another connection stands in for `gantry reproduce` or a second
        // process writing to the same state directory.
        let other = try StateStore(directory: directory)
        _ = try other.registerVersion { self.version("churn", $0, digest: "sha256:2") }
        _ = try other.registerVersion { self.version("fraud", $0, digest: "sha256:3") }
        let seen = try controller.versionsByModel()
        #expect(seen["churn"]?.map(\.digest) == ["sha256:1", "sha256:2"])
        #expect(seen["fraud"]?.map(\.number) == [1])
        #expect(try controller.allVersions().map(\.model) == ["churn", "churn", "fraud"])

        try other.setPromotion("churn", 2, "committed abc")
        #expect(try controller.versionsByModel()["churn"]?.last?.promotion == "committed abc", "an update, not only inserts")

        #expect(controller.versionCache.value?.byModel.count == 2)
        controller.versionCache.value?.byModel["marker"] = []
        #expect(try controller.versionsByModel()["marker"] != nil, "nothing changed: served from memory")

        // This store's own writes to the versions table update the cache in
        // place (the marker stays), and are what a fresh read gives.
        _ = try controller.registerVersion { self.version("fraud", $0, digest: "sha256:4") }
        try controller.setPromotion("churn", 1, "pushed gantry/churn-v1")
        let updated = try controller.versionsByModel()
        #expect(updated["marker"] != nil, "updated in place, not read again")
        #expect(updated["fraud"]?.map(\.number) == [1, 2])
        #expect(updated["churn"]?.first?.promotion == "pushed gantry/churn-v1")
        let fresh = try StateStore(directory: directory).versionsByModel()
        #expect(updated.filter { $0.key != "marker" } == fresh)

        // Writes to other tables leave the cache alone.
        try controller.save(FileHashRecord(path: "/x", size: 1, mtimeNanos: 1, inode: 1, digest: "sha256:x"))
        #expect(try controller.versionsByModel()["marker"] != nil)
    }
}
