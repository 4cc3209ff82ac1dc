/// Decodes `Decodable` types from a YAML node tree, reporting problems by field
/// path and position. Unknown fields are errors, with a did-you-mean.
///
///     struct Step: Decodable { var name: String; var command: [String] }
///     let step = try YAMLDecoder().decode(Step.self, from: node)
public struct YAMLDecoder: Sendable {
    public init() {}

    /// Decodes `type` from `node`; `path` is the node's place in its document.
    /// Throws `DecodingFailure` with every problem found.
    public func decode<T: Decodable>(_ type: T.Type, from node: Node, at path: FieldPath = FieldPath()) throws(DecodingFailure) -> T {
        let context = DecodingContext()
        do {
            let value = try context.unbox(T.self, node, path)
            if context.problems.isEmpty { return value }
        } catch let problem as DecodingProblem {
            context.problems.append(problem)
        } catch {
            context.problems.append(DecodingProblem(path: path, mark: node.mark, message: "\(error)"))
        }
        context.problems.sort { $0.mark < $1.mark }
        throw DecodingFailure(problems: context.problems)
    }
}

final class DecodingContext {
    /// Problems that do not stop decoding (unknown fields), so that one run
    /// reports all of them.
    var problems: [DecodingProblem] = []

    func unbox<T: Decodable>(_ type: T.Type, _ node: Node, _ path: FieldPath) throws -> T {
        if T.self == String.self { return try string(node, path) as! T }
        if T.self == Int.self { return try integer(Int.self, node, path) as! T }
        if T.self == Double.self { return try double(node, path) as! T }
        if T.self == Bool.self { return try bool(node, path) as! T }
        if let e = T.self as? any StringEnum.Type { return try stringEnum(e, node, path) as! T }
        let decoder = NodeDecoder(node: node, path: path, context: self)
        let value: T
        do {
            value = try T(from: decoder)
        } catch let error as DecodingError {
            throw problem(from: error, node: node, path: path)
        }
        decoder.reportUnknownKeys()
        return value
    }

    func problem(from error: DecodingError, node: Node, path: FieldPath) -> DecodingProblem {
        switch error {
        case .dataCorrupted(let c), .typeMismatch(_, let c), .valueNotFound(_, let c):
            return DecodingProblem(path: path, mark: node.mark, message: c.debugDescription)
        case .keyNotFound(let key, _):
            return DecodingProblem(path: path.appending(key.stringValue), mark: node.mark,
                                   message: "missing required field \"\(key.stringValue)\"")
        @unknown default:
            return DecodingProblem(path: path, mark: node.mark, message: "\(error)")
        }
    }

    func mismatch(_ expected: String, _ node: Node, _ path: FieldPath) -> DecodingProblem {
        DecodingProblem(path: path, mark: node.mark, message: "expected \(expected), found \(node.kindDescription)")
    }

    func string(_ node: Node, _ path: FieldPath) throws -> String {
        guard case .scalar(let s, _) = node.kind, !node.isNull else { throw mismatch("a string", node, path) }
        return s
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type, _ node: Node, _ path: FieldPath) throws -> I {
        guard case .scalar(let s, .plain) = node.kind, let v = I(s) else {
            throw mismatch("an integer", node, path)
        }
        return v
    }

    func double(_ node: Node, _ path: FieldPath) throws -> Double {
        guard case .scalar(let s, .plain) = node.kind else { throw mismatch("a number", node, path) }
        switch s {
        case ".inf", ".Inf", ".INF", "+.inf": return .infinity
        case "-.inf", "-.Inf", "-.INF": return -.infinity
        case ".nan", ".NaN", ".NAN": return .nan
        default:
            guard let v = Double(s) else { throw mismatch("a number", node, path) }
            return v
        }
    }

    func bool(_ node: Node, _ path: FieldPath) throws -> Bool {
        if case .scalar(let s, .plain) = node.kind {
            switch s {
            case "true", "True", "TRUE": return true
            case "false", "False", "FALSE": return false
            default: break
            }
        }
        throw mismatch("true or false", node, path)
    }

    func stringEnum<E: StringEnum>(_ type: E.Type, _ node: Node, _ path: FieldPath) throws -> E {
        let s = try string(node, path)
        if let v = E(rawValue: s) { return v }
        let allowed = E.allCases.map(\.rawValue)
        throw DecodingProblem(
            path: path, mark: node.mark,
            message: "unknown value \"\(s)\"\(Suggestion.hint(for: s, in: allowed)); expected one of: \(allowed.joined(separator: ", "))")
    }
}

/// Marks which keys of a mapping a type asked for, so the rest can be
/// reported as unknown once the type has decoded itself.
final class KeyUsage {
    let pairs: [Node.Pair]
    var used: [Bool]
    var askedFor: [String] = []

    init(pairs: [Node.Pair]) {
        self.pairs = pairs
        self.used = Array(repeating: false, count: pairs.count)
    }

    func lookup(_ key: String) -> Node? {
        askedFor.append(key)
        for i in pairs.indices where pairs[i].key.scalar == key {
            used[i] = true
            return pairs[i].value
        }
        return nil
    }
}

final class NodeDecoder: Decoder {
    let node: Node
    let path: FieldPath
    let context: DecodingContext
    var usage: KeyUsage?

    init(node: Node, path: FieldPath, context: DecodingContext) {
        self.node = node
        self.path = path
        self.context = context
    }

    var codingPath: [any CodingKey] {
        path.components.map { c -> any CodingKey in
            switch c {
            case .key(let k): return PathKey(stringValue: k)
            case .index(let i): return PathKey(intValue: i)
            }
        }
    }

    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let pairs) = node.kind else {
            if node.isNull { return KeyedDecodingContainer(KeyedNodeContainer<Key>(decoder: self, usage: sharedUsage([]))) }
            throw context.mismatch("a mapping", node, path)
        }
        return KeyedDecodingContainer(KeyedNodeContainer<Key>(decoder: self, usage: sharedUsage(pairs)))
    }

    private func sharedUsage(_ pairs: [Node.Pair]) -> KeyUsage {
        if let usage { return usage }
        let u = KeyUsage(pairs: pairs)
        usage = u
        return u
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .sequence(let items) = node.kind else {
            if node.isNull { return UnkeyedNodeContainer(decoder: self, items: []) }
            throw context.mismatch("a list", node, path)
        }
        return UnkeyedNodeContainer(decoder: self, items: items)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValueNodeContainer(decoder: self)
    }

    func reportUnknownKeys() {
        guard let usage else { return }
        for (i, pair) in usage.pairs.enumerated() where !usage.used[i] {
            let key = pair.key.scalar ?? pair.key.kindDescription
            context.problems.append(DecodingProblem(
                path: path.appending(key), mark: pair.key.mark,
                message: "unknown field \"\(key)\"\(Suggestion.hint(for: key, in: usage.askedFor))"))
        }
    }
}

struct PathKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = "[\(intValue)]"
        self.intValue = intValue
    }
}

struct KeyedNodeContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: NodeDecoder
    let usage: KeyUsage

    var codingPath: [any CodingKey] { decoder.codingPath }

    var allKeys: [Key] {
        usage.pairs.indices.compactMap { i in
            usage.used[i] = true
            return usage.pairs[i].key.scalar.flatMap(Key.init(stringValue:))
        }
    }

    func contains(_ key: Key) -> Bool { usage.lookup(key.stringValue) != nil }

    private func value(_ key: Key) throws -> Node {
        guard let v = usage.lookup(key.stringValue) else { throw missing(key.stringValue) }
        return v
    }

    /// A missing required field is most often a misspelled one: point at the
    /// misspelling when an unasked-for key is close to it.
    private func missing(_ key: String) -> DecodingProblem {
        let unused = usage.pairs.indices.filter { !usage.used[$0] }.compactMap { usage.pairs[$0].key.scalar }
        if let typo = Suggestion.closest(to: key, in: unused), let pair = usage.pairs.first(where: { $0.key.scalar == typo }) {
            return DecodingProblem(path: decoder.path.appending(typo), mark: pair.key.mark,
                                   message: "unknown field \"\(typo)\" (did you mean \"\(key)\"?)")
        }
        return DecodingProblem(path: decoder.path.appending(key), mark: decoder.node.mark,
                               message: "missing required field \"\(key)\"")
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        usage.lookup(key.stringValue)?.isNull ?? true
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decoder.context.unbox(T.self, try value(key), decoder.path.appending(key.stringValue))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try superDecoder(forKey: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try superDecoder(forKey: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { decoder }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        NodeDecoder(node: try value(key), path: decoder.path.appending(key.stringValue), context: decoder.context)
    }
}

struct UnkeyedNodeContainer: UnkeyedDecodingContainer {
    let decoder: NodeDecoder
    let items: [Node]
    var currentIndex = 0

    init(decoder: NodeDecoder, items: [Node]) {
        self.decoder = decoder
        self.items = items
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private mutating func nextNode() throws -> (Node, FieldPath) {
        guard !isAtEnd else {
            throw DecodingProblem(path: decoder.path, mark: decoder.node.mark, message: "list has too few elements")
        }
        defer { currentIndex += 1 }
        return (items[currentIndex], decoder.path.appending(currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (node, path) = try nextNode()
        return try decoder.context.unbox(T.self, node, path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try superDecoder().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try superDecoder().unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (node, path) = try nextNode()
        return NodeDecoder(node: node, path: path, context: decoder.context)
    }
}

struct SingleValueNodeContainer: SingleValueDecodingContainer {
    let decoder: NodeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.node.isNull }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try decoder.context.unbox(T.self, decoder.node, decoder.path)
    }
}

extension SingleValueDecodingContainer {
    /// The node under this container, for types that decode more than one
    /// shape (a scalar or a mapping, say). Nil outside `YAMLDecoder`.
    public var yamlNode: Node? { (self as? SingleValueNodeContainer)?.decoder.node }
}

extension Decoder {
    /// The node being decoded, for types that accept more than one shape.
    /// Nil outside `YAMLDecoder`.
    public var yamlNode: Node? { (self as? NodeDecoder)?.node }
}
