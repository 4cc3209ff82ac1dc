import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// File primitives for the control directory. Readers in another process must
/// never see a half-written file, so every write goes to a temporary name in
/// the same directory and is renamed over the target.
enum ControlFiles {
    /// Identity of a file version. A rename installs a new inode, so comparing
    /// (device, inode, mtime, size) detects a replacement even when two writes
    /// land within one mtime tick.
    struct Signature: Equatable, Sendable {
        var device: UInt64
        var inode: UInt64
        var seconds: Int
        var nanoseconds: Int
        var size: Int64
    }

    static func signature(_ path: String) -> Signature? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Signature(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino),
            seconds: Int(info.st_mtim.tv_sec), nanoseconds: Int(info.st_mtim.tv_nsec),
            size: Int64(info.st_size))
    }

    /// `mkdir -p`, with the failing path and errno in the error.
    static func ensureDirectory(_ path: String) throws {
        var info = stat()
        if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { return }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try ensureDirectory(String(path[..<slash]))
        }
        if mkdir(path, 0o755) != 0, errno != EEXIST {
            throw StableAddressError.system(operation: "create directory \(path)", errno: errno)
        }
    }

    /// `durable` adds an fsync before the rename: the backend file is the
    /// record a restarted forwarder trusts, the status file is not.
    static func writeAtomically(_ bytes: [UInt8], to path: String, durable: Bool) throws {
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StableAddressError.system(operation: "create \(temporary)", errno: errno) }
        var failure: StableAddressError?
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n > 0 {
                    offset += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    failure = .system(operation: "write \(temporary)", errno: n < 0 ? errno : EIO)
                    return
                }
            }
        }
        if failure == nil, durable, fsync(fd) != 0 {
            failure = .system(operation: "fsync \(temporary)", errno: errno)
        }
        close(fd)
        if failure == nil, rename(temporary, path) != 0 {
            failure = .system(operation: "rename \(temporary) to \(path)", errno: errno)
        }
        if let failure {
            unlink(temporary)
            throw failure
        }
    }

    /// Control files are tiny; the cap stops a mistaken path (say a log file)
    /// from being slurped into memory.
    static func read(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while result.count < limit {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                result.append(contentsOf: chunk[0..<n])
            } else if n == 0 {
                return result
            } else if errno != EINTR {
                return nil
            }
        }
        return nil
    }
}
