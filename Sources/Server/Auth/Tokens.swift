import Crypto
import Foundation
import YAML

/// What a token may do. Each role can do everything the one before can.
public enum Role: String, Codable, Sendable, Comparable, CaseIterable, StringEnum {
    /// Read objects, versions, lineage, history, the plan, drift.
    case viewer
    /// Also refresh, suspend and resume, roll back.
    case `operator`
    /// Also read the audit log.
    case admin

    var rank: Int { Role.allCases.firstIndex(of: self)! }
    public static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }
}

/// One API token as the tokens file lists it: a name for the audit log, a
/// role, and the SHA-256 of the token; the token itself is never stored.
public struct TokenEntry: Codable, Sendable, Equatable {
    public var name: String
    public var role: Role
    /// Lowercase hex SHA-256 of the token's UTF-8 bytes.
    public var sha256: String

    public init(name: String, role: Role, sha256: String) {
        self.name = name
        self.role = role
        self.sha256 = sha256
    }
}

/// The tokens the server accepts, from a YAML or JSON list:
///
///     - name: alice
///       role: operator
///       sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
///
/// A token is checked by hashing it and comparing in constant time.
public struct TokenFile: Sendable {
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public var entries: [TokenEntry]

    public init(entries: [TokenEntry]) throws {
        var seen = Set<String>()
        for e in entries {
            guard e.sha256.count == 64, e.sha256.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
                throw Problem(description: "token \(e.name): sha256 must be 64 lowercase hex digits (printf %s \"$TOKEN\" | sha256sum)")
            }
            guard !e.name.isEmpty, seen.insert(e.name).inserted else {
                throw Problem(description: "token names must be unique and non-empty (\"\(e.name)\")")
            }
        }
        self.entries = entries
    }

    public static func load(path: String) throws -> TokenFile {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw Problem(description: "\(path): cannot read the tokens file")
        }
        do {
            let documents = try YAMLParser.parse(Array(bytes), file: path)
            guard let root = documents.first?.root else { return try TokenFile(entries: []) }
            return try TokenFile(entries: try YAMLDecoder().decode([TokenEntry].self, from: root))
        } catch let failure as DecodingFailure {
            let text = failure.problems.map { "\(path):\($0.mark): \($0)" }.joined(separator: "\n")
            throw Problem(description: text)
        } catch let problem as Problem {
            throw Problem(description: "\(path): \(problem.description)")
        }
    }

    public static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The entry whose hash matches `token`, comparing every entry in
    /// constant time so that timing tells nothing about near misses.
    public func authenticate(_ token: String) -> TokenEntry? {
        let digest = Array(Self.hash(token).utf8)
        var match: TokenEntry?
        for entry in entries {
            let expected = Array(entry.sha256.utf8)
            var difference: UInt8 = expected.count == digest.count ? 0 : 1
            for (a, b) in zip(expected, digest) { difference |= a ^ b }
            if difference == 0 { match = entry }
        }
        return match
    }
}
