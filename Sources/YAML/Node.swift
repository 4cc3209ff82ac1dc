/// A position in a YAML source, 1-based like a compiler's.
public struct Mark: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static func < (a: Mark, b: Mark) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }

    public var description: String { "\(line):\(column)" }
}

/// How a scalar was written. A quoted scalar is always a string; only a plain
/// one may be read as a number, a boolean or null.
public enum ScalarStyle: Sendable, Hashable {
    case plain, singleQuoted, doubleQuoted, literal, folded

    public var isQuoted: Bool { self != .plain }
}

/// One node of a parsed YAML document, with where it was written.
///
///     let docs = try YAMLParser.parse("a: [1, 2]\n", file: "x.yaml")
///     docs[0].root?["a"]?.mark   // 1:4
public struct Node: Sendable {
    public enum Kind: Sendable {
        case scalar(String, ScalarStyle)
        case sequence([Node])
        case mapping([Pair])
    }

    public struct Pair: Sendable {
        public var key: Node
        public var value: Node
    }

    public var kind: Kind
    public var mark: Mark
    /// An explicit tag such as `!!str`; nil when the node was untagged.
    public var tag: String?

    public init(_ kind: Kind, mark: Mark, tag: String? = nil) {
        self.kind = kind
        self.mark = mark
        self.tag = tag
    }

    /// The scalar's text when this node is a scalar.
    public var scalar: String? {
        if case .scalar(let s, _) = kind { return s }
        return nil
    }

    /// Whether the node is YAML's null: `~`, `null`, an empty plain scalar or `!!null`.
    public var isNull: Bool {
        guard case .scalar(let s, let style) = kind else { return false }
        if tag == "tag:yaml.org,2002:null" { return true }
        guard style == .plain, tag == nil else { return false }
        switch s {
        case "", "~", "null", "Null", "NULL": return true
        default: return false
        }
    }

    /// The value under a mapping key, when this node is a mapping that has it.
    public subscript(key: String) -> Node? {
        guard case .mapping(let pairs) = kind else { return nil }
        return pairs.first(where: { $0.key.scalar == key })?.value
    }

    /// The element at an index, when this node is a sequence that long.
    public subscript(index: Int) -> Node? {
        guard case .sequence(let items) = kind, items.indices.contains(index) else { return nil }
        return items[index]
    }

    /// A word for error messages: "a mapping", "a sequence", "string \"x\"".
    public var kindDescription: String {
        switch kind {
        case .mapping: return "a mapping"
        case .sequence: return "a sequence"
        case .scalar(let s, let style):
            if isNull { return "null" }
            if let tag, tag.hasPrefix("tag:yaml.org,2002:") { return "\(tag.dropFirst(18)) \"\(s.clipped)\" (tagged !!\(tag.dropFirst(18)))" }
            if let tag { return "\"\(s.clipped)\" (tagged \(tag.clipped))" }
            return style.isQuoted ? "string \"\(s.clipped)\"" : "\"\(s.clipped)\""
        }
    }
}

/// One document of a YAML stream.
public struct Document: Sendable {
    /// Nil for an empty document (a lone `---`).
    public var root: Node?
    public var start: Mark
    /// 0-based position of the document in its file.
    public var index: Int
}
