import Foundation
import Glibc

/// Which process listens on a TCP port, from `/proc`: the kernel's socket
/// tables (`/proc/net/tcp`, `/proc/net/tcp6`) give the inode of each
/// listening socket, and `/proc/<pid>/fd` the sockets a process holds.
///
/// A server Gantry started is judged healthy by a probe of its port; this
/// tells whether the answer came from that server or from another process
/// that took the port first.
public enum ListeningSockets {
    /// The inodes of the sockets listening on `port`, on any address, IPv4
    /// and IPv6; nil when the tables cannot be read.
    public static func inodes(port: Int) -> Set<UInt64>? {
        var found = Set<UInt64>()
        var readAny = false
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = readWhole(table) else { continue }
            readAny = true
            found.formUnion(parse(text, port: port))
        }
        return readAny ? found : nil
    }

    /// Every TCP port a socket listens on now, from one read of each table;
    /// nil when the tables cannot be read. A socket that is bound but does
    /// not listen is not in the tables (the kernel lists it only once it
    /// listens or connects), so a port outside this set is very likely,
    /// not certainly, free: a deploy that then cannot bind it still fails,
    /// naming the address.
    public static func heldPorts() -> Set<Int>? {
        var ports = Set<Int>()
        var readAny = false
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = readWhole(table) else { continue }
            readAny = true
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 3, fields[3] == "0A" || fields[3] == "07", let colon = fields[1].lastIndex(of: ":"),
                    let port = Int(fields[1][fields[1].index(after: colon)...], radix: 16)
                else { continue }
                ports.insert(port)
            }
        }
        return readAny ? ports : nil
    }

    /// A `/proc` file read to its end: such files report a size of 0, and
    /// a table of many sockets spans many reads.
    static func readWhole(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                bytes += chunk[..<n]
            } else if n == 0 {
                return String(decoding: bytes, as: UTF8.self)
            } else if errno != EINTR {
                return nil
            }
        }
    }

    /// The listening sockets on `port` in one table's text:
    /// `sl local_address rem_address st … inode`, addresses as `HEX:PORT`,
    /// state `0A` for LISTEN.
    static func parse(_ text: String, port: Int) -> Set<UInt64> {
        let wanted = String(format: "%04X", port)
        var found = Set<UInt64>()
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 9, fields[3] == "0A", fields[1].hasSuffix(":" + wanted), let inode = UInt64(fields[9]), inode != 0 else { continue }
            found.insert(inode)
        }
        return found
    }

    /// Whether `pid` holds one of the sockets `inodes`.
    public static func holds(_ pid: Int32, _ inodes: Set<UInt64>) -> Bool {
        let directory = "/proc/\(pid)/fd"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return false }
        var buffer = [CChar](repeating: 0, count: 64)
        for entry in entries {
            let n = readlink(directory + "/" + entry, &buffer, buffer.count - 1)
            guard n > 8 else { continue }
            let target = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // socket:[12345]
            guard target.hasPrefix("socket:["), target.hasSuffix("]"), let inode = UInt64(target.dropFirst(8).dropLast()) else { continue }
            if inodes.contains(inode) { return true }
        }
        return false
    }

    /// Whether the process `pid`, or another in its session (a server that
    /// forks its listener), listens on `port`. Nil when `/proc` cannot
    /// tell: no table, or nobody listens there now.
    public static func sessionListens(_ pid: Int32, port: Int) -> Bool? {
        guard let inodes = inodes(port: port), !inodes.isEmpty else { return nil }
        if holds(pid, inodes) { return true }
        guard let session = ProcStat.read(pid: pid)?.session, session > 1,
            let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc")
        else { return false }
        for entry in entries {
            guard let other = Int32(entry), other != pid, ProcStat.read(pid: other)?.session == session else { continue }
            if holds(other, inodes) { return true }
        }
        return false
    }
}
