import Foundation
import Lineage

/// The tokens a node agent accepts, as their SHA-256 hashes: the node never
/// stores a token itself. One `sha256:<64 hex>` per line; `#` starts a
/// comment.
///
///     # printf %s "$TOKEN" | sha256sum
///     sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
public struct AgentTokens: Sendable {
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    let hashes: [String]

    public init(hashes: [String]) throws {
        for h in hashes where !Self.isHash(h) {
            throw Problem(description: "\(h.prefix(12))…: a token hash is sha256: and 64 lowercase hex digits (printf %s \"$TOKEN\" | sha256sum)")
        }
        self.hashes = hashes.map { String($0.dropFirst("sha256:".count)) }
    }

    public static func load(path: String) throws -> AgentTokens {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Problem(description: "\(path): cannot read the token file")
        }
        var hashes: [String] = []
        for (index, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line =
                raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)?
                .trimmingCharacters(in: .whitespaces) ?? ""
            if line.isEmpty { continue }
            // Never echo the line: it may be a token pasted by mistake.
            guard isHash(line) else {
                throw Problem(
                    description: "\(path):\(index + 1): expected sha256:<64 lowercase hex digits>, the hash of a token (printf %s \"$TOKEN\" | sha256sum)")
            }
            hashes.append(line)
        }
        guard !hashes.isEmpty else { throw Problem(description: "\(path): no token hashes; every call would be refused") }
        return try AgentTokens(hashes: hashes)
    }

    static func isHash(_ text: String) -> Bool {
        let hex = text.dropFirst("sha256:".count)
        return text.hasPrefix("sha256:") && hex.count == 64 && hex.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    /// The line a token file needs for `token`.
    public static func line(for token: String) -> String { "sha256:" + Digest.sha256(token) }

    /// Whether `token` is one of the accepted ones, comparing every hash in
    /// constant time.
    public func accepts(_ token: String) -> Bool {
        let digest = Array(Digest.sha256(token).utf8)
        var matched = false
        for hash in hashes {
            let expected = Array(hash.utf8)
            var difference: UInt8 = expected.count == digest.count ? 0 : 1
            for (a, b) in zip(expected, digest) { difference |= a ^ b }
            if difference == 0 { matched = true }
        }
        return matched
    }
}
