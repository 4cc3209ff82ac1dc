import FileTree
import Foundation
import State

/// What differs between the data of two versions, from their snapshots:
/// files added, removed and modified, with their sizes, and for a modified
/// `.csv`/`.tsv` file the rows added and removed (as lines, counted as
/// multisets: a row repeated once more is one row added).
public enum SnapshotDiff {
    public struct FileChange: Codable, Sendable, Equatable {
        public var dataset: String
        public var path: String
        /// `added`, `removed` or `modified`.
        public var change: String
        public var sizeBefore: Int64?
        public var sizeAfter: Int64?
        public var rowsAdded: Int?
        public var rowsRemoved: Int?
        public var addedRows: [String]?
        public var removedRows: [String]?

        /// `modified churn/train.csv (1200 -> 1300 bytes, rows +2 -1)`.
        public var summary: String {
            let sizes = [sizeBefore.map { "\($0)" }, sizeAfter.map { "\($0)" }].compactMap { $0 }.joined(separator: " -> ")
            let rows = rowsAdded.map { ", rows +\($0) -\(rowsRemoved ?? 0)" } ?? ""
            return "\(change) \(dataset)\(path.isEmpty ? "" : "/" + path) (\(sizes) bytes\(rows))"
        }
    }

    /// Each version's snapshot manifests by dataset name: the ones its
    /// lineage names that this store holds.
    public static func manifests(of lineage: Lineage, in snapshots: SnapshotStore) -> [String: SnapshotStore.Manifest] {
        var manifests: [String: SnapshotStore.Manifest] = [:]
        for (name, fingerprint) in lineage.datasets {
            if let manifest = snapshots.manifest(fingerprint) { manifests[name] = manifest }
        }
        return manifests
    }

    /// The files of the local data at `path` now, as a manifest (the
    /// remembered hashes of unchanged files, the rest read); nil unless the
    /// data now has `fingerprint`, so that a plan shows the data it plans.
    public static func live(dataset: String, path: String, fingerprint: String, store: StateStore?) -> SnapshotStore.Manifest? {
        var isDirectory: ObjCBool = false
        guard path.hasPrefix("/"), FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory),
            let (manifest, _) = try? SnapshotStore.current(
                dataset: dataset, path: path, listing: isDirectory.boolValue ? DirectoryListing.scan(path) : nil, store: store, cacheWrites: false),
            manifest.fingerprint == fingerprint
        else { return nil }
        return manifest
    }

    /// The changes from `before` to `after`, by dataset then path; at most
    /// `rows` rows listed per file and direction (the counts are whole).
    /// A file the store does not hold is read from `live[dataset]` (the
    /// data's directory, or the file itself).
    public static func changes(
        from before: [String: SnapshotStore.Manifest], to after: [String: SnapshotStore.Manifest], in snapshots: SnapshotStore, rows: Int = 20,
        live: [String: String] = [:]
    ) throws -> [FileChange] {
        func text(_ dataset: String, _ file: SnapshotStore.Manifest.File) throws -> String {
            if let root = live[dataset], access(snapshots.objectPath(file.digest), F_OK) != 0 {
                let path = file.path.isEmpty ? root : root + "/" + file.path
                guard let data = FileManager.default.contents(atPath: path) else { throw SnapshotStore.Failure(description: "cannot read \(path)") }
                return String(decoding: data, as: UTF8.self)
            }
            return try snapshots.objectText(file.digest)
        }
        var changes: [FileChange] = []
        for name in Set(before.keys).union(after.keys).sorted() {
            let old = Dictionary((before[name]?.files ?? []).map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
            let new = Dictionary((after[name]?.files ?? []).map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
            for path in Set(old.keys).union(new.keys).sorted() {
                let (a, b) = (old[path], new[path])
                guard a?.digest != b?.digest else { continue }
                var change = FileChange(
                    dataset: name, path: path, change: a == nil ? "added" : b == nil ? "removed" : "modified", sizeBefore: a?.size, sizeAfter: b?.size)
                if let a, let b, isTable(path.isEmpty ? (after[name]?.name ?? before[name]?.name ?? "") : path) {
                    let (added, removed) = Self.rows(try text(name, a), try text(name, b))
                    change.rowsAdded = added.count
                    change.rowsRemoved = removed.count
                    change.addedRows = Array(added.prefix(rows))
                    change.removedRows = Array(removed.prefix(rows))
                }
                changes.append(change)
            }
        }
        return changes
    }

    /// The file changes between the data of `parent` and of `lineage`,
    /// for the datasets whose fingerprint changed; nil when a changed
    /// dataset has no snapshot on one side (an HTTP dataset, or one
    /// trained before snapshots were kept).
    public static func sinceParent(_ lineage: Lineage, _ parent: Lineage, in snapshots: SnapshotStore, rows: Int = 5) -> [FileChange]? {
        let changed = Set(lineage.datasets.keys).union(parent.datasets.keys).filter { lineage.datasets[$0] != parent.datasets[$0] }
        guard !changed.isEmpty else { return [] }
        var before: [String: SnapshotStore.Manifest] = [:]
        var after: [String: SnapshotStore.Manifest] = [:]
        for name in changed {
            if let fp = parent.datasets[name] {
                guard let m = snapshots.manifest(fp) else { return nil }
                before[name] = m
            }
            if let fp = lineage.datasets[name] {
                guard let m = snapshots.manifest(fp) else { return nil }
                after[name] = m
            }
        }
        return try? changes(from: before, to: after, in: snapshots, rows: rows)
    }

    static func isTable(_ path: String) -> Bool { [".csv", ".tsv"].contains { path.lowercased().hasSuffix($0) } }

    /// The lines of `after` that `before` lacks, and the reverse, counted
    /// as multisets.
    public static func rows(_ before: String, _ after: String) -> (added: [String], removed: [String]) {
        func lines(_ text: String) -> [String] {
            text.split(separator: "\n", omittingEmptySubsequences: true).map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
        }
        var counts: [String: Int] = [:]
        for line in lines(before) { counts[line, default: 0] += 1 }
        var added: [String] = []
        for line in lines(after) {
            if let n = counts[line], n > 0 { counts[line] = n - 1 } else { added.append(line) }
        }
        var left = counts
        let removed = lines(before).filter { line in
            guard let n = left[line], n > 0 else { return false }
            left[line] = n - 1
            return true
        }
        return (added, removed)
    }
}
