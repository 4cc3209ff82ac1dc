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
