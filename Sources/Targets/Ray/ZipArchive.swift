import Foundation

/// A ZIP archive of stored (uncompressed) entries, byte-for-byte the same
/// for the same files: entries sorted by path, every timestamp 1980-01-01.
/// Ray unpacks a `working_dir` package with Python's `zipfile`, which reads
/// stored entries and restores each entry's Unix mode.
///
///     var zip = ZipArchive()
///     zip.add("train.py", contents: Array("print(1)".utf8), mode: 0o644)
///     let bytes = try zip.bytes()
struct ZipArchive {
    struct Entry {
        var path: String
        var contents: [UInt8]
        var mode: UInt16
    }

    private(set) var entries: [Entry] = []

    mutating func add(_ path: String, contents: [UInt8], mode: UInt16 = 0o644) {
        entries.append(Entry(path: path, contents: contents, mode: mode))
    }

    /// Adds every regular file under `directory` (symbolic links followed
    /// only when they point to a file inside it; `.git` left out), with
    /// paths relative to it.
    mutating func addDirectory(_ directory: String, prefix: String = "") throws {
        let root = URL(fileURLWithPath: directory).standardizedFileURL.resolvingSymlinksInPath().path
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw DriverError("cannot read \(directory) to package it")
        }
        while let relative = walker.nextObject() as? String {
            if relative == ".git" || relative.hasPrefix(".git/") {
                walker.skipDescendants()
                continue
            }
            let full = (root as NSString).appendingPathComponent(relative)
            let resolved = URL(fileURLWithPath: full).resolvingSymlinksInPath().path
            guard resolved == root || resolved.hasPrefix(root + "/") else { continue }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            guard let data = FileManager.default.contents(atPath: resolved) else {
                throw DriverError("cannot read \(full) to package it")
            }
            let attributes = try? FileManager.default.attributesOfItem(atPath: resolved)
            let permissions = (attributes?[.posixPermissions] as? NSNumber)?.uint16Value ?? 0o644
            add(prefix + relative, contents: Array(data), mode: permissions & 0o111 != 0 ? 0o755 : 0o644)
        }
    }

    /// The archive: local headers and data, the central directory, its end.
    /// Throws past ZIP's 32-bit limits (65,535 entries, 4 GiB).
    func bytes() throws -> [UInt8] {
        guard entries.count < 0xFFFF, entries.reduce(0, { $0 + $1.contents.count + 200 }) < Int(UInt32.max) else {
            throw DriverError("a package of \(entries.count) files is too large for a ZIP without ZIP64")
        }
        var out: [UInt8] = []
        var central: [UInt8] = []
        for entry in entries.sorted(by: { $0.path < $1.path }) {
            let name = Array(entry.path.utf8)
            let crc = CRC32.checksum(entry.contents)
            let size = UInt32(entry.contents.count)
            let offset = UInt32(out.count)
            // Version 2.0, flag bit 11 (UTF-8 names), method 0 (stored),
            // DOS time 00:00 and date 1980-01-01.
            out.le32(0x0403_4b50)
            out.le16(20)
            out.le16(0x0800)
            out.le16(0)
            out.le16(0)
            out.le16(0x0021)
            out.le32(crc)
            out.le32(size)
            out.le32(size)
            out.le16(UInt16(name.count))
            out.le16(0)
            out += name
            out += entry.contents
            // Made by Unix (3) version 2.0, so the mode in the external
            // attributes' high half counts.
            central.le32(0x0201_4b50)
            central.le16(0x0314)
            central.le16(20)
            central.le16(0x0800)
            central.le16(0)
            central.le16(0)
            central.le16(0x0021)
            central.le32(crc)
            central.le32(size)
            central.le32(size)
            central.le16(UInt16(name.count))
            central.le16(0)
            central.le16(0)
            central.le16(0)
            central.le16(0)
            central.le32(UInt32(0o100000 | UInt32(entry.mode)) << 16)
            central.le32(offset)
            central += name
        }
        let centralOffset = UInt32(out.count)
        out += central
        out.le32(0x0605_4b50)
        out.le16(0)
        out.le16(0)
        out.le16(UInt16(entries.count))
        out.le16(UInt16(entries.count))
        out.le32(UInt32(central.count))
        out.le32(centralOffset)
        out.le16(0)
        return out
    }
}

/// CRC-32 (IEEE 802.3), as ZIP stores it for each entry.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}

extension Array where Element == UInt8 {
    mutating func le16(_ v: UInt16) {
        append(UInt8(v & 0xFF))
        append(UInt8(v >> 8))
    }
    mutating func le32(_ v: UInt32) { for shift in stride(from: 0, to: 32, by: 8) { append(UInt8((v >> UInt32(shift)) & 0xFF)) } }
}
