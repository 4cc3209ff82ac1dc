import Crypto
import FileTree
import Foundation

/// SHA-256 helpers: content addresses for artifacts, lineage and data.
public enum Digest {
    public static func sha256(_ bytes: some DataProtocol) -> String {
        SHA256.hash(data: bytes).hexString
    }

    public static func sha256(_ text: String) -> String { sha256(Data(text.utf8)) }

    /// Streams a regular file through SHA-256 without loading it whole. A
    /// device, FIFO or socket is refused without reading: `/dev/zero` never
    /// ends and a FIFO blocks its reader, and neither is data. The file is
    /// opened without blocking and checked on its descriptor, so a name
    /// swapped for a FIFO after a stat cannot hang the caller.
    public static func sha256(file path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, UInt32(st.st_mode) & UInt32(S_IFMT) == UInt32(S_IFREG) else {
            throw NotAFile(path: path)
        }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: path])
            }
            if count == 0 { break }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        }
        return hasher.finalize().hexString
    }

    /// A path that names a device, FIFO, socket or directory where a
    /// regular file was expected.
    public struct NotAFile: Error, CustomStringConvertible, Sendable {
        public var path: String
        public var description: String { "\(path) is not a regular file (a device, FIFO or socket is not data)" }
    }

    /// Canonical JSON (sorted keys) of a value, for digests that must not
    /// depend on field order.
    public static func canonicalJSON<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
    }
}
