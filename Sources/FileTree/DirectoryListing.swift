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
public struct DirectoryListing: Sendable {
    public struct Identity: Sendable {
        public var size: Int64
        public var mtimeNanos: Int64
        public var inode: Int64
    }

    /// One record per file, back to back: its identity (three 64-bit
    /// integers in the machine's byte order), its relative path, a NUL.
    /// These bytes are exactly what the signature hashes.
    private var records: [UInt8] = []
    /// Where each record starts in `records`.
    private var starts: [Int] = []
    private static let identitySize = MemoryLayout<(Int64, Int64, Int64)>.size

    public var count: Int { starts.count }

    /// The size, mtime and inode of file `i`.
    public func identity(_ i: Int) -> Identity {
        records.withUnsafeBytes { bytes in
            let base = bytes.baseAddress! + starts[i]
            return Identity(
                size: base.loadUnaligned(as: Int64.self),
                mtimeNanos: (base + 8).loadUnaligned(as: Int64.self),
                inode: (base + 16).loadUnaligned(as: Int64.self))
        }
    }

    /// The relative path of file `i`.
    public func relative(_ i: Int) -> String {
        let end = (i + 1 < starts.count ? starts[i + 1] : records.count) - 1
        return String(decoding: records[(starts[i] + Self.identitySize)..<end], as: UTF8.self)
    }

    /// SHA-256 over each file's identity and relative path, in walk order:
    /// the records, in one pass.
    public var signature: String {
        var hasher = SHA256()
        records.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return hasher.finalize().hexString
    }

    /// Lists `root` and every directory under it, depth first in directory
    /// order.
    public static func scan(_ root: String) -> DirectoryListing {
        var listing = DirectoryListing()
        listing.visit(root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root, prefix: [])
        return listing
    }

    private mutating func visit(_ directory: String, prefix: [UInt8]) {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        for batch in NameBatch.readAndStat(dir, prefix: prefix) {
            for piece in batch.pieces {
                switch piece {
                case .files(let segment, let offsets):
                    // Made on the thread that stat-ed the batch: here only
                    // copied, and the offsets moved to where they land.
                    let base = records.count
                    starts.append(contentsOf: offsets.lazy.map { $0 + base })
                    records.append(contentsOf: segment)
                case .directory(let i):
                    let name = batch.name(i)
                    visit(directory + "/" + String(decoding: name, as: UTF8.self), prefix: prefix + name + [0x2F])
                }
            }
        }
    }
}

/// Up to `capacity` names read from one directory, and what `fstatat`
/// found for them once some thread has taken the batch (`claim`) and
/// stat-ed it: the records of its regular files, cut where a
/// subdirectory's files belong. A batch is written by the reading thread
/// until it is handed over, then by the one thread whose claim succeeded,
/// and read by the reading thread only after every batch is done
/// (`Progress`): never two at once.
private final class NameBatch: @unchecked Sendable {
    static let capacity = 512

    enum Piece {
        /// Consecutive regular files: their records (see
        /// `DirectoryListing.records`) and where each starts.
        case files([UInt8], [Int])
        /// The subdirectory named by name `i`.
        case directory(Int)
    }

    /// The relative path of the batch's directory, "" or ending in "/".
    private let prefix: [UInt8]
    private var bytes: [UInt8] = []
    private var ends: [Int] = []
    fileprivate var pieces: [Piece] = []
    private let claimed = Atomic<Bool>(false)

    var count: Int { ends.count }
    var isFull: Bool { ends.count == Self.capacity }

    init(prefix: [UInt8]) {
        self.prefix = prefix
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

    /// Stats every name relative to `fd` and makes the batch's pieces,
    /// unless another thread took the batch first. Returns whether this
    /// call did the work. A name gone since it was read, a socket or a
    /// device is not data, and is left out.
    func claimAndStat(in fd: Int32) -> Bool {
        guard claimed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return false }
        var records: [UInt8] = []
        var starts: [Int] = []
        records.reserveCapacity(bytes.count + ends.count * (24 + prefix.count))
        starts.reserveCapacity(ends.count)
        bytes.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            var start = 0
            var st = stat()
            for i in 0..<ends.count {
                defer { start = ends[i] + 1 }
                guard fstatat(fd, base + start, &st, 0) == 0 else { continue }
                let kind = UInt32(st.st_mode) & UInt32(S_IFMT)
                if kind == UInt32(S_IFREG) {
                    starts.append(records.count)
                    var identity = (Int64(st.st_size), Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec), Int64(st.st_ino))
                    withUnsafeBytes(of: &identity) { records.append(contentsOf: $0) }
                    records.append(contentsOf: prefix)
                    records.append(contentsOf: UnsafeRawBufferPointer(start: base + start, count: ends[i] - start + 1))  // with its NUL
                } else if kind == UInt32(S_IFDIR) {
                    if !starts.isEmpty { pieces.append(.files(records, starts)) }
                    records = []
                    starts = []
                    pieces.append(.directory(i))
                }
            }
        }
        if !starts.isEmpty { pieces.append(.files(records, starts)) }
        return true
    }

    /// Reads every name of `dir` (skipping hidden ones) into batches; each
    /// full batch goes to another thread to be stat-ed while reading goes
    /// on, and once the directory is read this thread stats whatever is
    /// still untaken. Returns when every batch is stat-ed.
    static func readAndStat(_ dir: OpaquePointer, prefix: [UInt8]) -> [NameBatch] {
        let fd = dirfd(dir)
        let progress = Progress()
        var batches: [NameBatch] = []
        var current = NameBatch(prefix: prefix)
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
                current = NameBatch(prefix: prefix)
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

extension Sequence where Element == UInt8 {
    /// Lowercase hex, without the cost of a format string per byte.
    public var hexString: String {
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
