import YAML

/// A training parameter: a scalar as written in YAML. Quoted scalars stay
/// strings; plain ones are read as booleans or numbers when they are.
public enum ParamValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let node = decoder.yamlNode {
            guard case .scalar(let s, let style) = node.kind, !node.isNull else {
                throw DecodingError.typeMismatch(
                    ParamValue.self,
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription: "expected a parameter value (string, number or boolean), found \(node.kindDescription)"))
            }
            self = style.isQuoted ? .string(s) : ParamValue(plain: s)
            return
        }
        if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else {
            self = .string(try c.decode(String.self))
        }
    }

    init(plain s: String) {
        switch s {
        case "true", "True", "TRUE": self = .bool(true)
        case "false", "False", "FALSE": self = .bool(false)
        default:
            if let i = Int(s) { self = .int(i) } else if let d = Double(s) { self = .double(d) } else { self = .string(s) }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .bool(let v): try c.encode(v)
        case .int(let v): try c.encode(v)
        case .double(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        }
    }

    /// Numbers compare by value: `5` and `5.0` are the same param (as they
    /// already were in a lineage's digest, whose JSON writes both as 5).
    public static func == (a: ParamValue, b: ParamValue) -> Bool {
        switch (a, b) {
        case (.bool(let x), .bool(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): return Int(exactly: y) == x
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .bool(let v):
            hasher.combine(0)
            hasher.combine(v)
        case .string(let v):
            hasher.combine(1)
            hasher.combine(v)
        case .int(let v):
            hasher.combine(2)
            hasher.combine(v)
        case .double(let v):
            if let whole = Int(exactly: v) {
                hasher.combine(2)
                hasher.combine(whole)
            } else {
                hasher.combine(3)
                hasher.combine(v)
            }
        }
    }

    /// The text a command line receives.
    public var description: String {
        switch self {
        case .bool(let v): return String(v)
        case .int(let v): return String(v)
        case .double(let v): return String(v)
        case .string(let v): return v
        }
    }
}
