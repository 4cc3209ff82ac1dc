import CYAML

/// A YAML syntax error, with libyaml's own message.
public struct YAMLSyntaxError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var mark: Mark
    public var message: String

    public var description: String { "\(file):\(mark): error: \(message)" }
}

/// Parses YAML text into documents of `Node`s with line and column marks.
///
///     let documents = try YAMLParser.parse(bytes, file: "models/churn.yaml")
public enum YAMLParser {
    public static func parse(_ text: String, file: String) throws -> [Document] {
        try parse(Array(text.utf8), file: file)
    }

    public static func parse(_ bytes: [UInt8], file: String) throws -> [Document] {
        // libyaml keeps a pointer to the parser inside the parser itself, so it
        // lives on the heap for the whole parse, as does the input buffer.
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) == 1 else {
            throw YAMLSyntaxError(file: file, mark: Mark(line: 1, column: 1), message: "libyaml could not initialise a parser")
        }
        defer { yaml_parser_delete(parser) }
        return try bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(parser, buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!, buffer.count)
            var builder = TreeBuilder(parser: parser, file: file, input: buffer)
            return try builder.documents()
        }
    }
}

private struct TreeBuilder {
    let parser: UnsafeMutablePointer<yaml_parser_t>
    let file: String
    let input: UnsafeBufferPointer<UInt8>
    var anchors: [String: Node] = [:]
    var event = yaml_event_t()
    /// Children of the sequences and mappings being built, one list per
    /// nesting level, reused from node to node: each node then gets its
    /// children in one exactly sized allocation instead of an array grown
    /// one append at a time.
    var items: [[Node]] = []
    var pairs: [[Node.Pair]] = []
    var depth = 0
    /// Nodes in the current document, counting each alias as the whole
    /// subtree it repeats, and the size of each anchored subtree: a
    /// "billion laughs" document is refused instead of expanded.
    var expanded = 0
    var anchorSizes: [String: Int] = [:]

    /// No manifest nests deeper; the limit keeps the recursive builder far
    /// from the end of its thread's stack, whatever the input.
    static let deepest = 64
    /// No manifest has more nodes once aliases are repeated.
    static let largestExpansion = 1_000_000
    /// A mapping this long checks duplicate keys in a set, not by a scan.
    static let scannedKeys = 8

    init(parser: UnsafeMutablePointer<yaml_parser_t>, file: String, input: UnsafeBufferPointer<UInt8>) {
        self.parser = parser
        self.file = file
        self.input = input
    }

    /// Line and column (in characters, counting each UTF-8 lead byte) of
    /// the byte at `offset`.
    static func mark(at offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Mark {
        var line = 1
        var column = 1
        for byte in bytes.prefix(min(offset, bytes.count)) {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return Mark(line: line, column: column)
    }

    mutating func next() throws {
        guard yaml_parser_parse(parser, &event) == 1 else { throw syntaxError() }
    }

    func syntaxError() -> YAMLSyntaxError {
        let p = parser.pointee
        var mark = Mark(line: Int(p.problem_mark.line) + 1, column: Int(p.problem_mark.column) + 1)
        if p.error == YAML_READER_ERROR {
            // The reader (bad UTF-8, NUL, control characters) gives only a
            // byte offset; count lines and characters up to it.
            mark = Self.mark(at: Int(p.problem_offset), in: input)
        }
        var message = p.problem.map { String(cString: $0) } ?? "invalid YAML"
        if let context = p.context {
            message += " (\(String(cString: context)) at line \(p.context_mark.line + 1))"
        }
        return YAMLSyntaxError(file: file, mark: mark, message: message)
    }

    var mark: Mark {
        Mark(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
    }

    mutating func documents() throws -> [Document] {
        var out: [Document] = []
        try next()
        defer { yaml_event_delete(&event) }
        guard event.type == YAML_STREAM_START_EVENT else { throw syntaxError() }
        while true {
            yaml_event_delete(&event)
            try next()
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return out
            case YAML_DOCUMENT_START_EVENT:
                let start = mark
                anchors.removeAll(keepingCapacity: true)  // anchors are per document
                anchorSizes.removeAll(keepingCapacity: true)
                expanded = 0
                yaml_event_delete(&event)
                try next()
                var root: Node?
                if event.type != YAML_DOCUMENT_END_EVENT {
                    root = try node()
                    yaml_event_delete(&event)
                    try next()
                }
                if let r = root, r.isNull, case .scalar("", _) = r.kind { root = nil }
                out.append(Document(root: root, start: start, index: out.count))
            default:
                throw YAMLSyntaxError(file: file, mark: mark, message: "unexpected event in stream")
            }
        }
    }

    /// Starts a sequence or mapping one level down and returns the level,
    /// whose scratch lists are empty.
    mutating func enter() throws -> Int {
        let level = depth
        guard level < Self.deepest else {
            throw YAMLSyntaxError(file: file, mark: mark, message: "nested deeper than \(Self.deepest) levels")
        }
        depth += 1
        if items.count <= level {
            items.append([])
            pairs.append([])
        }
        items[level].removeAll(keepingCapacity: true)
        pairs[level].removeAll(keepingCapacity: true)
        return level
    }

    /// Builds the node that starts at the current event; on return the
    /// current event is the node's last one.
    mutating func node() throws -> Node {
        let start = mark
        let first = expanded
        expanded += 1
        guard expanded <= Self.largestExpansion else {
            throw YAMLSyntaxError(file: file, mark: start, message: "the document expands to more than \(Self.largestExpansion) nodes through its aliases")
        }
        switch event.type {
        case YAML_ALIAS_EVENT:
            let name = String(cString: event.data.alias.anchor)
            guard var target = anchors[name] else {
                throw YAMLSyntaxError(file: file, mark: start, message: "unknown anchor \"\(name.clipped)\"")
            }
            expanded += (anchorSizes[name] ?? 1) - 1
            guard expanded <= Self.largestExpansion else {
                throw YAMLSyntaxError(file: file, mark: start, message: "the document expands to more than \(Self.largestExpansion) nodes through its aliases")
            }
            target.mark = start
            return target
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            let value = String(decoding: UnsafeBufferPointer(start: s.value, count: Int(s.length)), as: UTF8.self)
            let style: ScalarStyle
            switch s.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            let n = Node(.scalar(value, style), mark: start, tag: s.tag.map { String(cString: $0) })
            if let anchor = s.anchor { remember(String(cString: anchor), n, since: first) }
            return n
        case YAML_SEQUENCE_START_EVENT:
            let anchor = event.data.sequence_start.anchor.map { String(cString: $0) }
            let tag = event.data.sequence_start.tag.map { String(cString: $0) }
            let level = try enter()
            defer { depth -= 1 }
            while true {
                yaml_event_delete(&event)
                try next()
                if event.type == YAML_SEQUENCE_END_EVENT { break }
                let item = try node()
                items[level].append(item)
            }
            let n = Node(.sequence(Array(items[level][...])), mark: start, tag: tag)
            if let anchor { remember(anchor, n, since: first) }
            return n
        case YAML_MAPPING_START_EVENT:
            let anchor = event.data.mapping_start.anchor.map { String(cString: $0) }
            let tag = event.data.mapping_start.tag.map { String(cString: $0) }
            let level = try enter()
            defer { depth -= 1 }
            // Short mappings (nearly all) are scanned for a repeated key;
            // a long one keeps its keys in a set, so 20,000 labels cost
            // 20,000 lookups rather than 200 million comparisons.
            var keys: Set<String>?
            while true {
                yaml_event_delete(&event)
                try next()
                if event.type == YAML_MAPPING_END_EVENT { break }
                let key = try node()
                yaml_event_delete(&event)
                try next()
                let value = try node()
                if let k = key.scalar {
                    let repeated: Bool
                    if keys != nil {
                        repeated = !keys!.insert(k).inserted
                    } else {
                        repeated = pairs[level].contains(where: { $0.key.scalar == k })
                        if pairs[level].count == Self.scannedKeys {
                            keys = Set(pairs[level].compactMap(\.key.scalar))
                            keys!.insert(k)
                        }
                    }
                    if repeated {
                        throw YAMLSyntaxError(file: file, mark: key.mark, message: "duplicate key \"\(k.clipped)\"")
                    }
                }
                pairs[level].append(Node.Pair(key: key, value: value))
            }
            let n = Node(.mapping(Array(pairs[level][...])), mark: start, tag: tag)
            if let anchor { remember(anchor, n, since: first) }
            return n
        default:
            throw YAMLSyntaxError(file: file, mark: start, message: "unexpected YAML event")
        }
    }

    mutating func remember(_ anchor: String, _ node: Node, since first: Int) {
        anchors[anchor] = node
        anchorSizes[anchor] = expanded - first
    }
}
