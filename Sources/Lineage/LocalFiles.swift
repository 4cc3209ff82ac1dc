import Crypto
import Dispatch
import FileTree
import Foundation
import State

/// The content fingerprint of a local file or directory, fast when warm and
/// when cold.
///
/// Warm: every file's hash is remembered with its size, mtime and inode (as
/// DVC's state database does); one stat per file (`DirectoryListing`)
/// decides whether the directory's last fingerprint still holds, and then
/// nothing is read; otherwise one query loads the remembered hashes under
/// the directory and only the files whose stat changed are read. Cold: the
/// files that must be read are hashed on every core. The result is the
/// SHA-256 of the sorted `path\0sha256` lines.
struct LocalFiles {
    struct File {
        var relative: String
        var size: Int64
        var mtimeNanos: Int64
        var inode: Int64
    }

    let store: StateStore?
    let cacheWrites: Bool

    /// Regular files under `root` (relative paths, in directory order),
    /// skipping hidden files and directories, with their stat identity.
    static func walk(_ root: String) -> [File] {
        DirectoryListing.scan(root).files
    }

    func fingerprint(directory path: String) throws -> String {
        let directory = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        let listing = DirectoryPrefetch.listing(of: directory)
        // When every file has the size, mtime and inode it had last time, in
        // the same order, the last fingerprint stands: nothing is looked up,
        // read or sorted, and no String is made per file.
        let signature = listing.signature
        if let known = try store?.directoryFingerprint(directory), known.signature == signature {
            return known.fingerprint
        }
        let fingerprint = try fingerprint(listing.files, directory: directory)
        if cacheWrites { try store?.saveDirectoryFingerprint(directory, signature: signature, fingerprint: fingerprint) }
        return fingerprint
    }

    func fingerprint(_ files: [File], directory: String) throws -> String {
        Self.fingerprint(zip(files, try digests(files, directory: directory)).map { ($0.relative, $1) })
    }

    /// The SHA-256 of the sorted `path\0sha256` lines.
    static func fingerprint(_ entries: [(relative: String, digest: String)]) -> String {
        let lines = entries.map { "\($0.relative)\0\($0.digest)" }.sorted()
        return "sha256:" + Digest.sha256(lines.joined(separator: "\n"))
    }

    /// Each file's SHA-256 (hex), in `files`' order: remembered ones when
    /// their stat is unchanged, the rest read on every core.
    func digests(_ files: [File], directory: String) throws -> [String] {
        let known = (try store?.fileHashes(under: directory + "/")) ?? [:]
        var digests = [String?](repeating: nil, count: files.count)
        var missing: [Int] = []
        let full = files.map { directory + "/" + $0.relative }
        for (i, f) in files.enumerated() {
            if let k = known[full[i]], k.size == f.size, k.mtimeNanos == f.mtimeNanos, k.inode == f.inode {
                digests[i] = k.digest
            } else {
                missing.append(i)
            }
        }
        let hashed = try Self.hashInParallel(missing.map { full[$0] })
        var fresh: [FileHashRecord] = []
        for (n, i) in missing.enumerated() {
            digests[i] = hashed[n]
            let f = files[i]
            fresh.append(FileHashRecord(path: full[i], size: f.size, mtimeNanos: f.mtimeNanos, inode: f.inode, digest: hashed[n]))
        }
        if cacheWrites, !fresh.isEmpty { try store?.save(fresh) }
        return digests.map { $0! }
    }

    /// SHA-256 of each file, on as many threads as there are cores.
    static func hashInParallel(_ paths: [String]) throws -> [String] {
        guard !paths.isEmpty else { return [] }
        final class Results: @unchecked Sendable {
            var digests: [String]
            var failure: String?
            let lock = NSLock()
            init(_ n: Int) { digests = Array(repeating: "", count: n) }
        }
        let results = Results(paths.count)
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, paths.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            var i = worker
            while i < paths.count {
                let digest = sha256(file: paths[i], buffer: &buffer)
                results.lock.lock()
                if let digest { results.digests[i] = digest } else { results.failure = paths[i] }
                results.lock.unlock()
                i += workers
            }
        }
        if let failed = results.failure { throw Fingerprinter.Failure(dataset: failed, message: "\(failed): cannot read") }
        return results.digests
    }

    /// Streams a file through SHA-256 with plain read(2) into a reused buffer.
    static func sha256(file path: String, buffer: inout [UInt8]) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var hasher = SHA256()
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { return nil }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return hasher.finalize().hexString
    }
}

extension DirectoryListing {
    /// Every file, as `LocalFiles` hashes them.
    var files: [LocalFiles.File] {
        (0..<count).map { i in
            let id = identity(i)
            return LocalFiles.File(relative: relative(i), size: id.size, mtimeNanos: id.mtimeNanos, inode: id.inode)
        }
    }
}
