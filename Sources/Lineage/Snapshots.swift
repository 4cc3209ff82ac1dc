import CFiles
import Crypto
import Dispatch
import Foundation
import Manifests
import State
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Data snapshots: each file of a local dataset kept once, by its SHA-256,
/// under `<state>/snapshots/objects/<2 hex>/<62 hex>` (read-only), and for
/// each dataset fingerprint a manifest of path → digest and size under
/// `snapshots/dirs/<fingerprint hex>.json`, as DVC keeps its cache and its
/// `.dir` objects. A version's lineage names its datasets' fingerprints, so
/// a version's data is found from its lineage alone, and a file that did
/// not change between two versions is stored once.
///
/// Files are kept by copying them through one buffer while hashing it, on
/// every core: one read of each file, and the object holds exactly the
/// bytes that were checked. They are restored with copy_file_range(2),
/// which shares the blocks (a reflink) where the file system can (XFS,
/// Btrfs) and copies them in the kernel elsewhere. Never a hard link: the data's own file and the
/// snapshot would then be one inode, and a program appending to the data
/// in place would change the snapshot of a version already recorded.
public struct SnapshotStore: Sendable {
    public struct Manifest: Codable, Sendable, Equatable {
        public struct File: Codable, Sendable, Equatable {
            /// Relative to the dataset's directory; "" for a dataset that is one file.
            public var path: String
            public var digest: String
            public var size: Int64
        }

        public var dataset: String
        public var fingerprint: String
        public var files: [File]

        public var bytes: Int64 { files.reduce(0) { $0 + $1.size } }
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public let root: String

    public init(root: String) {
        self.root = root
    }

    func objectPath(_ digest: String) -> String {
        let hex = digest.hasPrefix("sha256:") ? String(digest.dropFirst(7)) : digest
        return "\(root)/objects/\(hex.prefix(2))/\(hex.dropFirst(2))"
    }

    func manifestPath(_ fingerprint: String) -> String {
        "\(root)/dirs/\(fingerprint.replacingOccurrences(of: "sha256:", with: "")).json"
    }

    public func manifest(_ fingerprint: String) -> Manifest? {
        guard let data = FileManager.default.contents(atPath: manifestPath(fingerprint)) else { return nil }
        return try? JSONDecoder().decode(Manifest.self, from: data)
    }

    /// Whether the fingerprint names local data a snapshot can keep (a
    /// dataset in Git is kept by Git; one behind a URL or in S3 is not
    /// snapshotted).
    public static func isLocal(_ dataset: DatasetSpec) -> Bool {
        dataset.source.path?.hasPrefix("/") == true
    }

    /// Keeps the files of the dataset at `path` whose fingerprint must be
    /// `fingerprint`; returns how many bytes of new objects that took (0
    /// when every file was kept already). Throws, keeping nothing of this
    /// dataset, when the data no longer has that fingerprint (it changed
    /// since it was read).
    @discardableResult
    public func snapshot(dataset: String, path: String, fingerprint: String, store: StateStore?) throws -> Int64 {
        if manifest(fingerprint) != nil { return 0 }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw Failure(description: "dataset \(dataset): \(path) is gone")
        }
        let files: [Manifest.File]
        let sources: [String]
        if isDirectory.boolValue {
            let directory = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
            let listed = LocalFiles.walk(directory)
            let digests = try LocalFiles(store: store, cacheWrites: false).digests(listed, directory: directory)
            files = zip(listed, digests).map { Manifest.File(path: $0.relative, digest: "sha256:" + $1, size: $0.size) }
            sources = listed.map { directory + "/" + $0.relative }
            guard LocalFiles.fingerprint(zip(listed, digests).map { ($0.relative, $1) }) == fingerprint else {
                throw Failure(description: "dataset \(dataset) changed since it was fingerprinted; not snapshotted")
            }
        } else {
            let digest = try Digest.sha256(file: path)
            guard "sha256:" + digest == fingerprint else {
                throw Failure(description: "dataset \(dataset) changed since it was fingerprinted; not snapshotted")
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0
            files = [Manifest.File(path: "", digest: "sha256:" + digest, size: size ?? 0)]
            sources = [path]
        }
        // Each object once (a dataset may hold the same bytes twice), on
        // every core.
        var seen = Set<String>()
        let wanted = zip(files, sources).filter { file, _ in
            seen.insert(file.digest).inserted && !FileManager.default.fileExists(atPath: objectPath(file.digest))
        }
        try Self.concurrently(wanted.count) { i in try keep(wanted[i].1, as: wanted[i].0.digest) }
        try save(Manifest(dataset: dataset, fingerprint: fingerprint, files: files))
        return wanted.reduce(0) { $0 + $1.0.size }
    }

    /// Runs `body(0..<count)` on every core; the first error is thrown
    /// once all have finished.
    static func concurrently(_ count: Int, _ body: @Sendable (Int) throws -> Void) throws {
        guard count > 1 else {
            if count == 1 { try body(0) }
            return
        }
        let failure = Mutex<(any Error)?>(nil)
        DispatchQueue.concurrentPerform(iterations: count) { i in
            guard failure.withLock({ $0 == nil }) else { return }
            do { try body(i) } catch { failure.withLock { if $0 == nil { $0 = error } } }
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Copies `source` in as the object `digest`, hashing the bytes as they
    /// are written: one read of the file, and the object is what was
    /// checked even if the file changes meanwhile.
    func keep(_ source: String, as digest: String) throws {
        try install(digest) { partial in
            guard "sha256:" + (try Self.hashingCopy(source, to: partial)) == digest else {
                throw Failure(description: "\(source) changed while it was snapshotted")
            }
        }
    }

    /// Copies `source` to `target` through one buffer, returning the
    /// SHA-256 of what was written.
    static func hashingCopy(_ source: String, to target: String) throws -> String {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw Failure(description: "cannot read \(source): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        let output = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw Failure(description: "cannot write \(target): \(String(cString: strerror(errno)))") }
        defer { close(output) }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 18)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw Failure(description: "cannot read \(source): \(String(cString: strerror(errno)))") }
            if n == 0 { return hasher.finalize().hexString }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[..<n])) }
            var written = 0
            while written < n {
                let w = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, n - written) }
                if w < 0, errno == EINTR { continue }
                guard w > 0 else { throw Failure(description: "cannot write \(target): \(String(cString: strerror(errno)))") }
                written += w
            }
        }
    }

    /// Stores `bytes` (already checked to have `digest`) as that object.
    func add(_ bytes: [UInt8], as digest: String) throws {
        try install(digest) { partial in try Data(bytes).write(to: URL(fileURLWithPath: partial)) }
    }

    /// Makes the object `digest` from what `write` leaves at a partial path
    /// beside it: read-only, and in place in one rename, so a reader never
    /// sees half an object.
    func install(_ digest: String, _ write: (String) throws -> Void) throws {
        let target = objectPath(digest)
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let partial = target + ".partial-\(getpid())"
        defer { unlink(partial) }
        try write(partial)
        chmod(partial, 0o444)
        guard rename(partial, target) == 0 else { throw Failure(description: "cannot store \(target): \(String(cString: strerror(errno)))") }
    }

    func save(_ manifest: Manifest) throws {
        let path = manifestPath(manifest.fingerprint)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(manifest).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// An object's bytes as text (UTF-8, invalid bytes replaced).
    public func objectText(_ digest: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: objectPath(digest)) else { throw Failure(description: "no object \(digest)") }
        return String(decoding: data, as: UTF8.self)
    }

    /// The digests a manifest needs that the store lacks.
    public func missing(_ manifest: Manifest) -> [String] {
        manifest.files.map(\.digest).filter { !FileManager.default.fileExists(atPath: objectPath($0)) }
    }

    /// Writes the data `fingerprint` names to `destination` (a directory,
    /// or the file itself for a one-file dataset), as writable copies.
    public func restore(_ fingerprint: String, to destination: String) throws {
        guard let manifest = manifest(fingerprint) else { throw Failure(description: "no snapshot of \(fingerprint)") }
        let missing = missing(manifest)
        guard missing.isEmpty else {
            throw Failure(description: "the snapshot of \(manifest.dataset) lacks \(missing.count) of its \(manifest.files.count) files (removed by gc?)")
        }
        // Directories first, once each; then the files on every core.
        var directories = Set<String>()
        for file in manifest.files {
            directories.insert(((file.path.isEmpty ? destination : destination + "/" + file.path) as NSString).deletingLastPathComponent)
        }
        for directory in directories.sorted() { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let files = manifest.files
        try Self.concurrently(files.count) { i in
            let target = files[i].path.isEmpty ? destination : destination + "/" + files[i].path
            unlink(target)
            try Self.copy(objectPath(files[i].digest), to: target)
        }
    }

    /// Removes every manifest whose fingerprint is not in `keeping`, then
    /// every object no remaining manifest names. Returns what was removed.
    public func collect(keeping: Set<String>, dryRun: Bool = false) throws -> (manifests: Int, objects: Int, bytes: Int64) {
        let dirs = root + "/dirs"
        var removed = (manifests: 0, objects: 0, bytes: Int64(0))
        var needed = Set<String>()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dirs)) ?? [] where name.hasSuffix(".json") {
            let fingerprint = "sha256:" + name.dropLast(5)
            if keeping.contains(fingerprint), let manifest = manifest(fingerprint) {
                needed.formUnion(manifest.files.map { objectPath($0.digest) })
            } else {
                removed.manifests += 1
                if !dryRun { unlink(dirs + "/" + name) }
            }
        }
        let objects = root + "/objects"
        for prefix in (try? FileManager.default.contentsOfDirectory(atPath: objects)) ?? [] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: objects + "/" + prefix)) ?? [] {
                let path = "\(objects)/\(prefix)/\(name)"
                guard !needed.contains(path) else { continue }
                removed.objects += 1
                removed.bytes += (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64).flatMap { $0 } ?? 0
                if !dryRun { unlink(path) }
            }
        }
        return removed
    }

    /// A kernel-side copy (shared blocks where the file system can), read
    /// and write where copy_file_range is refused.
    static func copy(_ source: String, to target: String) throws {
        let input = open(source, O_RDONLY)
        guard input >= 0 else { throw Failure(description: "cannot read \(source): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        let output = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard output >= 0 else { throw Failure(description: "cannot write \(target): \(String(cString: strerror(errno)))") }
        defer { close(output) }
        while true {
            let n = gantry_copy_file_range(input, output, 1 << 30)
            if n == 0 { return }
            if n > 0 { continue }
            if errno == EINTR { continue }
            break  // EXDEV, ENOSYS, EINVAL: copy by hand from where it stopped
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n == 0 { return }
            guard n > 0 else { throw Failure(description: "cannot read \(source): \(String(cString: strerror(errno)))") }
            var written = 0
            while written < n {
                let w = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, n - written) }
                guard w > 0 else { throw Failure(description: "cannot write \(target): \(String(cString: strerror(errno)))") }
                written += w
            }
        }
    }
}
