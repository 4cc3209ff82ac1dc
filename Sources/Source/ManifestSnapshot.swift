import Foundation
import Git
import Manifests

/// The manifest files of a local repository's project root as read at one
/// commit, kept in the state store so that a command run again while the
/// ref still points at that commit (`LocalRefs.target`) reads them back
/// without loading libgit2. A commit's tree never changes, so the files are
/// exactly what Git would give; they are decoded again, as a fetch would.
///
///     let key = GitSource.snapshotKey(location: ".", ref: nil, path: "gantry")
///     if let key, let saved = try store.manifestSnapshot(key),
///        let snapshot = ManifestSnapshot(commit: saved.commitID, encoded: saved.files),
///        snapshot.isCurrent(location: ".", ref: nil) { use(snapshot.manifests().set) }
public struct ManifestSnapshot: Sendable {
    public var commit: ObjectID
    /// Paths relative to the project root, in the order the tree lists them.
    public var files: [(path: String, bytes: [UInt8])]

    public init(commit: ObjectID, files: [(path: String, bytes: [UInt8])]) {
        self.commit = commit
        self.files = files
    }

    /// Whether `ref` (nil: HEAD) of the local repository at `location`
    /// still points at the snapshot's commit, by its ref files alone.
    public func isCurrent(location: String, ref: String?) -> Bool {
        LocalRefs.target(of: ref, in: location) == commit
    }

    /// The files decoded and assembled as `GitSource.revision` does.
    public func manifests() -> (set: ManifestSet, diagnostics: [Diagnostic]) {
        ManifestSet.assemble(Parallel.map(files) { ManifestDecoder.decode(path: $0.path, bytes: $0.bytes) })
    }

    /// Each file as its path's length (4 bytes, little-endian), the path,
    /// its content's length, the content.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(files.reduce(0) { $0 + 8 + $1.path.utf8.count + $1.bytes.count })
        func length(_ n: Int) { withUnsafeBytes(of: UInt32(n).littleEndian) { out.append(contentsOf: $0) } }
        for file in files {
            length(file.path.utf8.count)
            out.append(contentsOf: file.path.utf8)
            length(file.bytes.count)
            out.append(contentsOf: file.bytes)
        }
        return out
    }

    /// Nil when `commit` is no object id or `encoded` is cut short.
    public init?(commit: String, encoded: [UInt8]) {
        guard let id = ObjectID(hex: commit) else { return nil }
        var files: [(path: String, bytes: [UInt8])] = []
        var at = 0
        func chunk() -> ArraySlice<UInt8>? {
            guard at + 4 <= encoded.count else { return nil }
            let n = Int(encoded[at]) | Int(encoded[at + 1]) << 8 | Int(encoded[at + 2]) << 16 | Int(encoded[at + 3]) << 24
            guard at + 4 + n <= encoded.count else { return nil }
            defer { at += 4 + n }
            return encoded[(at + 4)..<(at + 4 + n)]
        }
        while at < encoded.count {
            guard let path = chunk(), let bytes = chunk() else { return nil }
            files.append((String(decoding: path, as: UTF8.self), [UInt8](bytes)))
        }
        self.init(commit: id, files: files)
    }
}

extension GitSource {
    /// The key a snapshot of this repository, ref and root is kept under:
    /// the repository's real path, so that `.` from two directories are
    /// two keys. Nil for a remote, or a path that does not exist.
    public static func snapshotKey(location: String, ref: String?, path: String) -> String? {
        guard !isURL(location), let real = realpath(location, nil) else { return nil }
        defer { free(real) }
        return String(cString: real) + "@" + (ref ?? "HEAD") + ":" + path
    }
}

extension Revision {
    /// This revision's manifest files, for a `ManifestSnapshot`; nil when
    /// the project root is not in the commit.
    public func snapshot() throws -> ManifestSnapshot? {
        guard rootTree != nil else { return nil }
        let files = try repository.files(inTree: commit.tree, under: root)
            .filter { ManifestCache.isManifest($0.path) }
            .map { (path: $0.path, bytes: try repository.blob($0.blob)) }
        return ManifestSnapshot(commit: commit.id, files: files)
    }
}
