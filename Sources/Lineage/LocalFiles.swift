import Crypto
import Dispatch
import Foundation
import State

/// The content fingerprint of a local file or directory, fast when warm and
/// when cold.
///
/// Warm: every file's hash is remembered with its size, mtime and inode (as
/// DVC's state database does); one query loads the remembered hashes under
/// the directory, one stat per file decides which are still valid, and
/// nothing is read. Cold: the files that must be read are hashed on every
/// core. The result is the SHA-256 of the sorted `path\0sha256` lines.
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
    ///
    /// A directory's names are read first; then its entries are stat-ed
    /// relative to the open directory (no path walk per file), split over
    /// every core when there are many, since a warm check is mostly this.
    static func walk(_ root: String) -> [File] {
        var out: [File] = []
        func visit(_ directory: String, _ prefix: String) {
            guard let dir = opendir(directory) else { return }
            defer { closedir(dir) }
            var names: [String] = []
            while let entry = readdir(dir) {
                // Hidden entries (".", "..", ".git", dotfiles) are skipped by
                // their first byte, before a String is made.
                if entry.pointee.d_name.0 == 0x2E { continue }
                names.append(withUnsafePointer(to: &entry.pointee.d_name) {
                    String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
                })
            }
            let stats = statAll(names, in: dirfd(dir))
            for (name, st) in zip(names, stats) {
                guard let st else { continue }
                let relative = prefix.isEmpty ? name : prefix + "/" + name
                if (st.st_mode & S_IFMT) == S_IFDIR {
                    visit(directory + "/" + name, relative)
                } else if (st.st_mode & S_IFMT) == S_IFREG {
                    out.append(File(relative: relative, size: Int64(st.st_size),
                                    mtimeNanos: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                                    inode: Int64(st.st_ino)))
                }
            }
        }
        visit(root.hasSuffix("/") ? String(root.dropLast()) : root, "")
        return out
    }

    /// `fstatat` of each name in the directory `fd`; nil where it failed
    /// (a file removed in between). In parallel above a few hundred names.
    static func statAll(_ names: [String], in fd: Int32) -> [stat?] {
        guard !names.isEmpty else { return [] }
        var stats: [stat?] = Array(repeating: nil, count: names.count)
        let workers = names.count < 512 ? 1 : max(1, ProcessInfo.processInfo.activeProcessorCount)
        let chunk = (names.count + workers - 1) / workers
        stats.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let base = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                // Each worker writes its own contiguous slice.
                for i in (w * chunk)..<min(names.count, (w + 1) * chunk) {
                    var st = stat()
                    if fstatat(fd, names[i], &st, 0) == 0 { base[i] = st }
                }
            }
        }
        return stats
    }

    func fingerprint(directory path: String) throws -> String {
        let directory = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        let files = Self.walk(directory)
        // When every file has the size, mtime and inode it had last time, in
        // the same order, the last fingerprint stands: nothing is looked up,
        // read or sorted.
        let signature = Self.signature(files)
        if let known = try store?.directoryFingerprint(directory), known.signature == signature {
            return known.fingerprint
        }
        let fingerprint = try fingerprint(files, directory: directory)
        if cacheWrites { try store?.saveDirectoryFingerprint(directory, signature: signature, fingerprint: fingerprint) }
        return fingerprint
    }

    /// SHA-256 over each file's path and stat identity, in walk order.
    static func signature(_ files: [File]) -> String {
        var hasher = SHA256()
        for f in files {
            var stat = (f.size, f.mtimeNanos, f.inode)
            withUnsafeBytes(of: &stat) { hasher.update(bufferPointer: $0) }
            var name = f.relative
            name.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
            hasher.update(data: [0])
        }
        return hasher.finalize().hexString
    }

    func fingerprint(_ files: [File], directory: String) throws -> String {
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
        let lines = zip(files, digests).map { "\($0.relative)\0\($1!)" }.sorted()
        return "sha256:" + Digest.sha256(lines.joined(separator: "\n"))
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

extension Sequence where Element == UInt8 {
    /// Lowercase hex, without the cost of a format string per byte.
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in self {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
