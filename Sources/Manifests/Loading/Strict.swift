import YAML

/// Reads well-formed manifests without the `Decodable` machinery, which
/// costs thousands of instructions a field and dominated a cold decode of a
/// large repository.
///
/// Each reader accepts only the unambiguous case and returns nil for
/// anything else: an unknown or non-scalar key, a tag, a value of the wrong
/// shape, a missing required field, a value `Decodable` would refuse. The
/// caller then decodes the document with `YAMLDecoder`, which produces the
/// value, or the problems, exactly as before. So this is only ever a
/// shortcut to the value `YAMLDecoder` would return
/// (`StrictDecodingTests` compares the two).
///
///     if let spec = ModelSpec(strict: node) { ... } else { /* YAMLDecoder */ }
enum Strict {
    /// A scalar's text, as `String` decodes it: any style, not null.
    static func string(_ n: Node) -> String? {
        guard n.tag == nil, case .scalar(let s, let style) = n.kind else { return nil }
        if style == .plain {
            switch s {
            case "", "~", "null", "Null", "NULL": return nil
            default: break
            }
        }
        return s
    }

    /// A plain scalar that `Int` parses; a quoted number is a string.
    static func int(_ n: Node) -> Int? {
        guard n.tag == nil, case .scalar(let s, .plain) = n.kind else { return nil }
        return Int(s)
    }

    /// A plain scalar that `Double` parses (`0.05`, `1`); a quoted number
    /// is a string.
    static func double(_ n: Node) -> Double? {
        guard n.tag == nil, case .scalar(let s, .plain) = n.kind, let d = Double(s), d.isFinite else { return nil }
        return d
    }

    static func bool(_ n: Node) -> Bool? {
        guard n.tag == nil, case .scalar(let s, .plain) = n.kind else { return nil }
        switch s {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: return nil
        }
    }

    static func value<E: StringEnum>(_ n: Node) -> E? { string(n).flatMap(E.init(rawValue:)) }

    static func list<V>(_ n: Node, _ element: (Node) -> V?) -> [V]? {
        guard n.tag == nil, case .sequence(let items) = n.kind else { return nil }
        var out: [V] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let v = element(item) else { return nil }
            out.append(v)
        }
        return out
    }

    static func strings(_ n: Node) -> [String]? { list(n, string) }

    /// A mapping with scalar keys, as a `[String: V]`.
    static func map<V>(_ n: Node, _ value: (Node) -> V?) -> [String: V]? {
        guard n.tag == nil, case .mapping(let pairs) = n.kind else { return nil }
        var out: [String: V] = [:]
        out.reserveCapacity(pairs.count)
        for pair in pairs {
            guard pair.key.tag == nil, case .scalar(let key, _) = pair.key.kind, let v = value(pair.value) else { return nil }
            out[key] = v
        }
        return out
    }

    /// Calls `field` with each key and value of a mapping; false when the
    /// node is not a plain mapping or `field` refuses a key or its value.
    static func fields(_ n: Node, _ field: (String, Node) -> Bool) -> Bool {
        guard n.tag == nil, case .mapping(let pairs) = n.kind else { return false }
        for pair in pairs {
            guard pair.key.tag == nil, case .scalar(let key, _) = pair.key.kind, field(key, pair.value) else { return false }
        }
        return true
    }

    /// A required field: the value must read.
    static func set<V>(_ slot: inout V?, _ n: Node, _ read: (Node) -> V?) -> Bool {
        guard let v = read(n) else { return false }
        slot = v
        return true
    }

    /// An optional field: null leaves it nil, as `decodeIfPresent` does.
    static func setOptional<V>(_ slot: inout V?, _ n: Node, _ read: (Node) -> V?) -> Bool {
        if n.isNull { return true }
        return set(&slot, n, read)
    }
}
