import Crypto
import Dispatch
import Foundation
import Synchronization

/// The regular files under a directory with the stat identity (size, mtime,
/// inode) that says whether their remembered hashes still hold.
///
/// A warm data check is almost all this listing, so it does as little per
/// file as the kernel allows: names are copied into one byte buffer (no
/// String per file), and while one thread reads the directory the others
/// already stat the names read so far, relative to the open directory.
/// Hidden entries (dotfiles, `.git`) are skipped; symbolic links are
/// followed, as `stat` does.
///
///     let listing = DirectoryListing.scan("/srv/data/churn")
///     listing.count        // 10000
///     listing.signature    // changes when any file's path, size, mtime or inode does
struct DirectoryListing {
    struct Identity {
        var size: Int64
        var mtimeNanos: Int64
        var inode: Int64
    }

    /// Relative paths, each followed by a NUL, back to back.
    private var paths: [UInt8] = []
    /// Where each path starts in `paths`.
    private var starts: [Int] = []
    private(set) var identities: [Identity] = []

    var count: Int { starts.count }

    /// The relative path of file `i`.
    func relative(_ i: Int) -> String {
        let end = (i + 1 < starts.count ? starts[i + 1] : paths.count) - 1
        return String(decoding: paths[starts[i]..<end], as: UTF8.self)
    }

    /// SHA-256 over each file's identity and relative path, in walk order.
    var signature: String {
        var hasher = SHA256()
        paths.withUnsafeBytes { bytes in
            for i in 0..<count {
                var identity = (identities[i].size, identities[i].mtimeNanos, identities[i].inode)
                withUnsafeBytes(of: &identity) { hasher.update(bufferPointer: $0) }
                let end = i + 1 < count ? starts[i + 1] : bytes.count
                // The path with its NUL: the separator between entries.
                hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: bytes[starts[i]..<end]))
            }
        }
        return hasher.finalize().hexString
    }

    /// Lists `root` and every directory under it, depth first in directory
    /// order.
    static func scan(_ root: String) -> DirectoryListing {
        var listing = DirectoryListing()
        listing.visit(root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root, prefix: [])
        return listing
    }

    private mutating func visit(_ directory: String, prefix: [UInt8]) {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        let batches = NameBatch.readAndStat(dir)
        for batch in batches {
            for i in 0..<batch.count {
                guard let st = batch.stats[i] else { continue }  // gone since it was read
                let kind = st.st_mode & S_IFMT
                if kind == S_IFDIR {
                    var sub = prefix
                    sub.append(contentsOf: batch.name(i))
                    let name = String(decoding: batch.name(i), as: UTF8.self)
                    visit(directory + "/" + name, prefix: sub + [0x2F])
                } else if kind == S_IFREG {
                    starts.append(paths.count)
                    paths.append(contentsOf: prefix)
                    paths.append(contentsOf: batch.name(i))
                    paths.append(0)
                    identities.append(Identity(size: Int64(st.st_size),
                                               mtimeNanos: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                                               inode: Int64(st.st_ino)))
                }
            }
        }
    }
}

/// Up to `capacity` names read from one directory, and their `fstatat`
/// results once some thread has taken the batch (`claim`) and stat-ed it.
/// A batch is written by the reading thread until it is handed over, then
/// by the one thread whose claim succeeded, and read by the reading thread
/// only after every batch is done (`Progress`): never two at once.
private final class NameBatch: @unchecked Sendable {
    static let capacity = 512

    private var bytes: [UInt8] = []
    private var ends: [Int] = []
    fileprivate var stats: [stat?] = []
    private let claimed = Atomic<Bool>(false)

    var count: Int { ends.count }
    var isFull: Bool { ends.count == Self.capacity }

    init() {
        bytes.reserveCapacity(Self.capacity * 24)
        ends.reserveCapacity(Self.capacity)
    }

    func append(_ name: UnsafePointer<CChar>) {
        let length = strlen(name)
        name.withMemoryRebound(to: UInt8.self, capacity: length) { bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: length)) }
        bytes.append(0)
        ends.append(bytes.count - 1)
    }

    /// Name `i` without its NUL.
    func name(_ i: Int) -> ArraySlice<UInt8> {
        bytes[(i == 0 ? 0 : ends[i - 1] + 1)..<ends[i]]
    }

    /// Stats every name relative to `fd`, unless another thread took the
    /// batch first. Returns whether this call did the work.
    func claimAndStat(in fd: Int32) -> Bool {
        guard claimed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return false }
        stats = Array(repeating: nil, count: ends.count)
        bytes.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            var start = 0
            for i in 0..<ends.count {
                var st = stat()
                if fstatat(fd, base + start, &st, 0) == 0 { stats[i] = st }
                start = ends[i] + 1
            }
        }
        return true
    }

    /// Reads every name of `dir` (skipping hidden ones) into batches; each
    /// full batch goes to another thread to be stat-ed while reading goes
    /// on, and once the directory is read this thread stats whatever is
    /// still untaken. Returns when every batch is stat-ed.
    static func readAndStat(_ dir: OpaquePointer) -> [NameBatch] {
        let fd = dirfd(dir)
        let progress = Progress()
        var batches: [NameBatch] = []
        var current = NameBatch()
        func handOver(_ batch: NameBatch) {
            batches.append(batch)
            progress.add()
            DispatchQueue.global(qos: .userInitiated).async {
                if batch.claimAndStat(in: fd) { progress.done() }
            }
        }
        while let entry = readdir(dir) {
            // ".", "..", ".git" and dotfiles: skipped by their first byte.
            if entry.pointee.d_name.0 == 0x2E { continue }
            withUnsafePointer(to: &entry.pointee.d_name) {
                current.append(UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if current.isFull {
                handOver(current)
                current = NameBatch()
            }
        }
        // A directory of one batch or less is stat-ed here, with no thread
        // woken; the last, partial batch of a bigger one too.
        if current.count > 0 {
            batches.append(current)
            _ = current.claimAndStat(in: fd)
        }
        for batch in batches where batch.claimAndStat(in: fd) { progress.done() }
        progress.waitUntilAllDone()
        return batches
    }
}

/// Counts the batches handed over and the ones stat-ed, so the reading
/// thread waits for the work itself, not for queued blocks that would
/// find their batch already taken.
private final class Progress: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending = 0

    func add() {
        condition.lock()
        pending += 1
        condition.unlock()
    }

    func done() {
        condition.lock()
        pending -= 1
        if pending == 0 { condition.broadcast() }
        condition.unlock()
    }

    func waitUntilAllDone() {
        condition.lock()
        while pending > 0 { condition.wait() }
        condition.unlock()
    }
}
