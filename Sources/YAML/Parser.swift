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
            var builder = TreeBuilder(parser: parser, file: file)
            return try builder.documents()
        }
    }
}

private struct TreeBuilder {
    let parser: UnsafeMutablePointer<yaml_parser_t>
    let file: String
    var anchors: [String: Node] = [:]
    var event = yaml_event_t()
    /// Children of the sequences and mappings being built, one list per
    /// nesting level, reused from node to node: each node then gets its
    /// children in one exactly sized allocation instead of an array grown
    /// one append at a time.
    var items: [[Node]] = []
    var pairs: [[Node.Pair]] = []
    var depth = 0

    init(parser: UnsafeMutablePointer<yaml_parser_t>, file: String) {
        self.parser = parser
        self.file = file
    }

    mutating func next() throws {
        guard yaml_parser_parse(parser, &event) == 1 else { throw syntaxError() }
    }

    func syntaxError() -> YAMLSyntaxError {
        let p = parser.pointee
        let mark = Mark(line: Int(p.problem_mark.line) + 1, column: Int(p.problem_mark.column) + 1)
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
    mutating func enter() -> Int {
        let level = depth
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
        switch event.type {
        case YAML_ALIAS_EVENT:
            let name = String(cString: event.data.alias.anchor)
            guard var target = anchors[name] else {
                throw YAMLSyntaxError(file: file, mark: start, message: "unknown anchor \"\(name)\"")
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
            if let anchor = s.anchor { anchors[String(cString: anchor)] = n }
            return n
        case YAML_SEQUENCE_START_EVENT:
            let anchor = event.data.sequence_start.anchor.map { String(cString: $0) }
            let tag = event.data.sequence_start.tag.map { String(cString: $0) }
            let level = enter()
            defer { depth -= 1 }
            while true {
                yaml_event_delete(&event)
                try next()
                if event.type == YAML_SEQUENCE_END_EVENT { break }
                let item = try node()
                items[level].append(item)
            }
            let n = Node(.sequence(Array(items[level][...])), mark: start, tag: tag)
            if let anchor { anchors[anchor] = n }
            return n
        case YAML_MAPPING_START_EVENT:
            let anchor = event.data.mapping_start.anchor.map { String(cString: $0) }
            let tag = event.data.mapping_start.tag.map { String(cString: $0) }
            let level = enter()
            defer { depth -= 1 }
            while true {
                yaml_event_delete(&event)
                try next()
                if event.type == YAML_MAPPING_END_EVENT { break }
                let key = try node()
                yaml_event_delete(&event)
                try next()
                let value = try node()
                if let k = key.scalar, pairs[level].contains(where: { $0.key.scalar == k }) {
                    throw YAMLSyntaxError(file: file, mark: key.mark, message: "duplicate key \"\(k)\"")
                }
                pairs[level].append(Node.Pair(key: key, value: value))
            }
            let n = Node(.mapping(Array(pairs[level][...])), mark: start, tag: tag)
            if let anchor { anchors[anchor] = n }
            return n
        default:
            throw YAMLSyntaxError(file: file, mark: start, message: "unexpected YAML event")
        }
    }
}
