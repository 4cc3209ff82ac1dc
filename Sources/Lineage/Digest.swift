import Crypto
import Foundation

/// SHA-256 helpers: content addresses for artifacts, lineage and data.
public enum Digest {
    public static func sha256(_ bytes: some DataProtocol) -> String {
        SHA256.hash(data: bytes).hexString
    }

    public static func sha256(_ text: String) -> String { sha256(Data(text.utf8)) }

    /// Streams a file through SHA-256 without loading it whole.
    public static func sha256(file path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hasher.finalize().hexString
    }

    /// Canonical JSON (sorted keys) of a value, for digests that must not
    /// depend on field order.
    public static func canonicalJSON<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
    }
}
