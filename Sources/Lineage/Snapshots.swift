import CFiles
import Crypto
import Dispatch
import FileTree
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
        /// For data that is one file (its path `""`): the file's name, which
        /// tells a table (`.csv`, `.tsv`) from other data.
        public var name: String?

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
        "\(root)/dirs/\(Self.fileKey(fingerprint)).json"
    }

    /// A fingerprint as a file name: a content hash's hex, or for any other
    /// fingerprint (an ETag may hold any character) `x-` and the SHA-256 of
    /// its text.
    public static func fileKey(_ fingerprint: String) -> String {
        let hex = fingerprint.dropFirst(7)
        if fingerprint.hasPrefix("sha256:"), hex.count == 64, hex.allSatisfy(\.isHexDigit) { return String(hex) }
        return "x-" + Digest.sha256(Array(fingerprint.utf8))
    }

    public func manifest(_ fingerprint: String) -> Manifest? {
        guard let data = FileManager.default.contents(atPath: manifestPath(fingerprint)) else { return nil }
        return try? JSONDecoder().decode(Manifest.self, from: data)
    }

    /// The name a one-file snapshot of `source` is written under: the last
    /// part of its path, URL path or S3 key.
    public static func fileName(_ source: DataSource) -> String {
        let raw = source.path ?? source.s3?.key ?? source.url.flatMap { URLComponents(string: $0)?.path } ?? ""
        let name = raw.split(separator: "/").last.map(String.init) ?? ""
        return name.isEmpty || name == ".." ? "data" : name
    }

    /// Keeps the files of the dataset at `path` whose fingerprint must be
    /// `fingerprint`; returns how many bytes of new objects that took (0
    /// when every file was kept already). Throws, keeping nothing of this
    /// dataset, when the data no longer has that fingerprint (it changed
    /// since it was read).
    @discardableResult
    public func snapshot(dataset: String, path: String, fingerprint: String, store: StateStore?) throws -> Int64 {
        if access(manifestPath(fingerprint), F_OK) == 0 { return 0 }
        return try snapshot(dataset: dataset, path: path, expecting: fingerprint, store: store, cacheWrites: false).added
    }

    /// What `snapshot(dataset:path:…)` kept: the data's fingerprint, the
    /// bytes of new objects, and how many files and bytes it holds.
    public struct Kept: Sendable {
        public var fingerprint: String
        public var added: Int64
        public var files: Int
        public var bytes: Int64
    }

    /// Keeps the data at `path` as it is now (`gantry data snapshot`): one
    /// walk, the remembered hashes of unchanged files, the new files read
    /// once. With `expecting`, throws when the data has another fingerprint.
    public func snapshot(dataset: String, path: String, expecting: String? = nil, store: StateStore?, cacheWrites: Bool) throws -> Kept {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw Failure(description: "dataset \(dataset): \(path) is gone")
        }
        var listing: DirectoryListing?
        if isDirectory.boolValue {
            let directory = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
            let scanned = DirectoryListing.scan(directory)
            // Unchanged since the last look, and kept then: nothing to read.
            if expecting == nil, let known = try store?.directoryFingerprint(directory), known.signature == scanned.signature,
                access(manifestPath(known.fingerprint), F_OK) == 0
            {
                return Kept(fingerprint: known.fingerprint, added: 0, files: scanned.files.count, bytes: scanned.files.reduce(0) { $0 + $1.size })
            }
            listing = scanned
        }
        let (manifest, sources) = try Self.current(dataset: dataset, path: path, listing: listing, store: store, cacheWrites: cacheWrites)
        let (files, fingerprint) = (manifest.files, manifest.fingerprint)
        if let expecting, expecting != fingerprint {
            throw Failure(description: "dataset \(dataset) changed since it was fingerprinted; not snapshotted")
        }
        let bytes = files.reduce(Int64(0)) { $0 + $1.size }
        if access(manifestPath(fingerprint), F_OK) == 0 { return Kept(fingerprint: fingerprint, added: 0, files: files.count, bytes: bytes) }
        // Each object once (a dataset may hold the same bytes twice), on
        // every core.
        var seen = Set<String>()
        // Looked up from the objects directory, not from the root each time.
        let objects = open(root + "/objects", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if objects >= 0 { close(objects) } }
        let wanted = zip(files, sources).filter { file, _ in
            guard seen.insert(file.digest).inserted else { return false }
            let hex = file.digest.hasPrefix("sha256:") ? file.digest.dropFirst(7) : Substring(file.digest)
            return objects < 0 || faccessat(objects, "\(hex.prefix(2))/\(hex.dropFirst(2))", F_OK, 0) != 0
        }
        try Self.concurrently(wanted.count) { i in try keep(wanted[i].1, as: wanted[i].0.digest) }
        try save(manifest)
        return Kept(fingerprint: fingerprint, added: wanted.reduce(0) { $0 + $1.0.size }, files: files.count, bytes: bytes)
    }

    /// The local data at `path` as it is now, as a manifest, with each
    /// file's full path: a file hashed, or a directory (`listing`, when
    /// already scanned) by the remembered hashes of its unchanged files and
    /// the rest read on every core.
    static func current(
        dataset: String, path: String, listing: DirectoryListing?, store: StateStore?, cacheWrites: Bool
    ) throws -> (manifest: Manifest, sources: [String]) {
        let directory = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        guard let listing else {
            let fingerprint = "sha256:" + (try Digest.sha256(file: path))
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64).flatMap { $0 } ?? 0
            let file = Manifest.File(path: "", digest: fingerprint, size: size)
            return (Manifest(dataset: dataset, fingerprint: fingerprint, files: [file], name: (path as NSString).lastPathComponent), [path])
        }
        let listed = listing.files
        let digests = try LocalFiles(store: store, cacheWrites: cacheWrites).digests(listed, directory: directory)
        let fingerprint = LocalFiles.fingerprint(zip(listed, digests).map { ($0.relative, $1) })
        if cacheWrites { try store?.saveDirectoryFingerprint(directory, signature: listing.signature, fingerprint: fingerprint) }
        let files = zip(listed, digests).map { Manifest.File(path: $0.relative, digest: "sha256:" + $1, size: $0.size) }
        return (Manifest(dataset: dataset, fingerprint: fingerprint, files: files), listed.map { directory + "/" + $0.relative })
    }

    /// Keeps downloaded `files` (see ``Fingerprinter/download(_:expecting:)``)
    /// as the snapshot `fingerprint` of `dataset`; returns the bytes of new
    /// objects.
    @discardableResult
    public func keep(dataset: String, fingerprint: String, files: [(path: String, bytes: [UInt8])], name: String? = nil) throws -> Int64 {
        var added: Int64 = 0
        var listed: [Manifest.File] = []
        for file in files {
            let digest = "sha256:" + Digest.sha256(file.bytes)
            if !FileManager.default.fileExists(atPath: objectPath(digest)) {
                try add(file.bytes, as: digest)
                added += Int64(file.bytes.count)
            }
            listed.append(Manifest.File(path: file.path, digest: digest, size: Int64(file.bytes.count)))
        }
        try save(Manifest(dataset: dataset, fingerprint: fingerprint, files: listed.sorted { $0.path < $1.path }, name: name))
        return added
    }

    /// A read-only copy of the snapshot `fingerprint` for a training to
    /// read, made once under `checkouts/`: the directory, or for a one-file
    /// snapshot the file, named `name` inside it.
    public func materialize(_ fingerprint: String, fileName name: String) throws -> String {
        let directory = checkoutPath(fingerprint, fileName: nil)
        guard let manifest = manifest(fingerprint) else { throw Failure(description: "no snapshot of \(fingerprint)") }
        let single = manifest.files.count == 1 && manifest.files[0].path.isEmpty
        let path = single ? directory + "/" + name : directory
        if FileManager.default.fileExists(atPath: directory) { return path }
        let partial = directory + ".partial-\(getpid())"
        try? FileManager.default.removeItem(atPath: partial)
        try FileManager.default.createDirectory(atPath: partial, withIntermediateDirectories: true)
        do {
            try restore(fingerprint, to: single ? partial + "/" + name : partial)
            for file in manifest.files { chmod(single ? partial + "/" + name : partial + "/" + file.path, 0o444) }
            guard rename(partial, directory) == 0 || FileManager.default.fileExists(atPath: directory) else {
                throw Failure(description: "cannot make \(directory): \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
        try? FileManager.default.removeItem(atPath: partial)
        return path
    }

    /// Where ``materialize(_:fileName:)`` puts the copy of `fingerprint`:
    /// its directory, or with `fileName` the one file in it.
    public func checkoutPath(_ fingerprint: String, fileName: String?) -> String {
        "\(root)/checkouts/\(Self.checkoutKey(fingerprint))" + (fileName.map { "/" + $0 } ?? "")
    }

    static func checkoutKey(_ fingerprint: String) -> String { String(Digest.sha256(Array(fingerprint.utf8)).prefix(32)) }

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
        try Data(Self.json(manifest).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// A manifest as JSON with sorted keys, what JSONEncoder writes with
    /// `.sortedKeys` (and decodes back), written directly: a dataset of
    /// 10,000 files is a megabyte of JSON, which the encoder takes tens of
    /// milliseconds over.
    static func json(_ manifest: Manifest) -> String {
        var out = "{\"dataset\":" + quoted(manifest.dataset) + ",\"files\":["
        out.reserveCapacity(manifest.files.count * 120)
        for (i, file) in manifest.files.enumerated() {
            if i > 0 { out += "," }
            out += "{\"digest\":" + quoted(file.digest) + ",\"path\":" + quoted(file.path) + ",\"size\":" + String(file.size) + "}"
        }
        return out + "],\"fingerprint\":" + quoted(manifest.fingerprint) + (manifest.name.map { ",\"name\":" + quoted($0) } ?? "") + "}"
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        // Almost every name needs no escape: copied whole.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) { return "\"" + text + "\"" }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
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

    /// Whether the snapshot `fingerprint` is here whole: its manifest and
    /// every object it names.
    public func holds(_ fingerprint: String) -> Bool {
        manifest(fingerprint).map { missing($0).isEmpty } ?? false
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
        let kept = Set(keeping.map(Self.fileKey))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dirs)) ?? [] where name.hasSuffix(".json") {
            let key = String(name.dropLast(5))
            if kept.contains(key),
                let data = FileManager.default.contents(atPath: dirs + "/" + name),
                let manifest = try? JSONDecoder().decode(Manifest.self, from: data)
            {
                needed.formUnion(manifest.files.map { objectPath($0.digest) })
            } else {
                removed.manifests += 1
                if !dryRun { unlink(dirs + "/" + name) }
            }
        }
        // Trainings' read-only copies of what is no longer kept.
        let checkouts = root + "/checkouts"
        let keptCheckouts = Set(keeping.map(Self.checkoutKey))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: checkouts)) ?? [] where !keptCheckouts.contains(name) {
            if !dryRun { try? FileManager.default.removeItem(atPath: checkouts + "/" + name) }
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
