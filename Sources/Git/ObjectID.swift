import CGit2

/// A Git object id (SHA-1), as 40 hex digits.
public struct ObjectID: Sendable, Hashable, Codable, CustomStringConvertible, Comparable {
    public let hex: String

    public init?(hex: String) {
        guard hex.utf8.count == 40, hex.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        self.hex = hex
    }

    init(_ oid: UnsafePointer<git_oid>) {
        // git_oid_tostr writes the 40 digits and a NUL into the string's own storage.
        hex = String(unsafeUninitializedCapacity: 41) { bytes in
            bytes.withMemoryRebound(to: CChar.self) { _ = git_oid_tostr($0.baseAddress, 41, oid) }
            return 40
        }
    }

    var oid: git_oid {
        var o = git_oid()
        git_oid_fromstr(&o, hex)
        return o
    }

    public var short: String { String(hex.prefix(12)) }
    public var description: String { hex }
    public static func < (a: ObjectID, b: ObjectID) -> Bool { a.hex < b.hex }

    public init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let id = ObjectID(hex: s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an object id: \(s)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}
