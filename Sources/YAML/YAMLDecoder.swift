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
            let value = try context.unbox(T.self, node, .at(path))
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

/// Where a value sits in its document. Decoding a manifest visits every
/// field, and almost none has a problem to report, so a field's path is
/// only put together when something asks for it.
enum Place {
    case at(FieldPath)
    /// One step below the value that `parent` decodes.
    case child(NodeDecoder, FieldPath.Component)

    var path: FieldPath {
        switch self {
        case .at(let path): return path
        case .child(let parent, let component): return FieldPath(parent.path.components + [component])
        }
    }
}

final class DecodingContext {
    /// Problems that do not stop decoding (unknown fields), so that one run
    /// reports all of them.
    var problems: [DecodingProblem] = []

    func unbox<T: Decodable>(_ type: T.Type, _ node: Node, _ place: Place) throws -> T {
        if T.self == String.self { return try string(node, place) as! T }
        if T.self == Int.self { return try integer(Int.self, node, place) as! T }
        if T.self == Double.self { return try double(node, place) as! T }
        if T.self == Bool.self { return try bool(node, place) as! T }
        if let e = T.self as? any StringEnum.Type { return try stringEnum(e, node, place) as! T }
        let decoder = NodeDecoder(node: node, place: place, context: self)
        let value: T
        do {
            value = try T(from: decoder)
        } catch let error as DecodingError {
            throw problem(from: error, node: node, path: place.path)
        }
        decoder.reportUnknownKeys()
        return value
    }

    func problem(from error: DecodingError, node: Node, path: FieldPath) -> DecodingProblem {
        switch error {
        case .dataCorrupted(let c), .typeMismatch(_, let c), .valueNotFound(_, let c):
            return DecodingProblem(path: path, mark: node.mark, message: c.debugDescription)
        case .keyNotFound(let key, _):
            return DecodingProblem(
                path: path.appending(key.stringValue), mark: node.mark,
                message: "missing required field \"\(key.stringValue)\"")
        @unknown default:
            return DecodingProblem(path: path, mark: node.mark, message: "\(error)")
        }
    }

    func mismatch(_ expected: String, _ node: Node, _ place: Place) -> DecodingProblem {
        DecodingProblem(path: place.path, mark: node.mark, message: "expected \(expected), found \(node.kindDescription)")
    }

    func string(_ node: Node, _ place: Place) throws -> String {
        guard case .scalar(let s, _) = node.kind, !node.isNull else { throw mismatch("a string", node, place) }
        return s
    }

    /// Whether the node carries no tag or YAML's own tag for `kind`: a
    /// value written `!!str 1` is text, whatever it looks like.
    func untagged(_ node: Node, or kind: String) -> Bool {
        node.tag == nil || node.tag == "tag:yaml.org,2002:" + kind
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type, _ node: Node, _ place: Place) throws -> I {
        guard untagged(node, or: "int"), case .scalar(let s, .plain) = node.kind, let v = I(s) else {
            throw mismatch("an integer", node, place)
        }
        return v
    }

    func double(_ node: Node, _ place: Place) throws -> Double {
        guard untagged(node, or: "float") || untagged(node, or: "int"), case .scalar(let s, .plain) = node.kind else {
            throw mismatch("a number", node, place)
        }
        switch s {
        case ".inf", ".Inf", ".INF", "+.inf": return .infinity
        case "-.inf", "-.Inf", "-.INF": return -.infinity
        case ".nan", ".NaN", ".NAN": return .nan
        default:
            guard let v = Double(s) else { throw mismatch("a number", node, place) }
            return v
        }
    }

    func bool(_ node: Node, _ place: Place) throws -> Bool {
        if untagged(node, or: "bool"), case .scalar(let s, .plain) = node.kind {
            switch s {
            case "true", "True", "TRUE": return true
            case "false", "False", "FALSE": return false
            default: break
            }
        }
        throw mismatch("true or false", node, place)
    }

    func stringEnum<E: StringEnum>(_ type: E.Type, _ node: Node, _ place: Place) throws -> E {
        let s = try string(node, place)
        if let v = E(rawValue: s) { return v }
        let allowed = E.allCases.map(\.rawValue)
        throw DecodingProblem(
            path: place.path, mark: node.mark,
            message: "unknown value \"\(s.clipped)\"\(Suggestion.hint(for: s, in: allowed)); expected one of: \(allowed.joined(separator: ", "))")
    }
}

/// Decodes one node. For a mapping it also marks which keys the type asked
/// for, so the rest can be reported as unknown once the type has decoded
/// itself; every keyed container of one node shares that record.
final class NodeDecoder: Decoder {
    let node: Node
    let place: Place
    let context: DecodingContext
    private var knownPath: FieldPath?
    /// Set once a keyed container was asked for.
    private(set) var pairs: [Node.Pair]?
    /// Which pairs were asked for: a bit per pair, and an array past 64.
    private var usedBits: UInt64 = 0
    private var usedBeyond64: [Bool] = []
    private(set) var askedFor: [String] = []

    init(node: Node, place: Place, context: DecodingContext) {
        self.node = node
        self.place = place
        self.context = context
    }

    var path: FieldPath {
        if let knownPath { return knownPath }
        let p = place.path
        knownPath = p
        return p
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
            if node.isNull {
                if self.pairs == nil { self.pairs = [] }
                return KeyedDecodingContainer(KeyedNodeContainer<Key>(decoder: self))
            }
            throw context.mismatch("a mapping", node, place)
        }
        if self.pairs == nil {
            self.pairs = pairs
            askedFor.reserveCapacity(pairs.count + 4)
        }
        return KeyedDecodingContainer(KeyedNodeContainer<Key>(decoder: self))
    }

    func isUsed(_ i: Int) -> Bool {
        i < 64 ? usedBits & (1 << UInt64(i)) != 0 : (!usedBeyond64.isEmpty && usedBeyond64[i - 64])
    }

    func markUsed(_ i: Int) {
        if i < 64 {
            usedBits |= 1 << UInt64(i)
        } else {
            if usedBeyond64.isEmpty { usedBeyond64 = Array(repeating: false, count: (pairs?.count ?? 0) - 64) }
            usedBeyond64[i - 64] = true
        }
    }

    /// The value under `key`, marking the key as asked for and used.
    func lookup(_ key: String) -> Node? {
        askedFor.append(key)
        guard let pairs else { return nil }
        for i in pairs.indices {
            if case .scalar(let s, _) = pairs[i].key.kind, s == key {
                markUsed(i)
                return pairs[i].value
            }
        }
        return nil
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .sequence(let items) = node.kind else {
            if node.isNull { return UnkeyedNodeContainer(decoder: self, items: []) }
            throw context.mismatch("a list", node, place)
        }
        return UnkeyedNodeContainer(decoder: self, items: items)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValueNodeContainer(decoder: self)
    }

    func reportUnknownKeys() {
        guard let pairs else { return }
        for (i, pair) in pairs.enumerated() where !isUsed(i) {
            let key = pair.key.scalar ?? pair.key.kindDescription
            context.problems.append(
                DecodingProblem(
                    path: path.appending(key), mark: pair.key.mark,
                    message: "unknown field \"\(key.clipped)\"\(Suggestion.hint(for: key, in: askedFor))"))
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

    var codingPath: [any CodingKey] { decoder.codingPath }

    var allKeys: [Key] {
        let pairs = decoder.pairs ?? []
        return pairs.indices.compactMap { i in
            decoder.markUsed(i)
            return pairs[i].key.scalar.flatMap(Key.init(stringValue:))
        }
    }

    func contains(_ key: Key) -> Bool { decoder.lookup(key.stringValue) != nil }

    private func value(_ key: Key) throws -> Node {
        guard let v = decoder.lookup(key.stringValue) else { throw missing(key.stringValue) }
        return v
    }

    /// A missing required field is most often a misspelled one: point at the
    /// misspelling when an unasked-for key is close to it.
    private func missing(_ key: String) -> DecodingProblem {
        let pairs = decoder.pairs ?? []
        let unused = pairs.indices.filter { !decoder.isUsed($0) }.compactMap { pairs[$0].key.scalar }
        if let typo = Suggestion.closest(to: key, in: unused), let pair = pairs.first(where: { $0.key.scalar == typo }) {
            return DecodingProblem(
                path: decoder.path.appending(typo), mark: pair.key.mark,
                message: "unknown field \"\(typo.clipped)\" (did you mean \"\(key)\"?)")
        }
        return DecodingProblem(
            path: decoder.path.appending(key), mark: decoder.node.mark,
            message: "missing required field \"\(key)\"")
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        decoder.lookup(key.stringValue)?.isNull ?? true
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decoder.context.unbox(T.self, try value(key), .child(decoder, .key(key.stringValue)))
    }

    // Optional fields: what the standard library's default does (absent or
    // null is nil, anything else decodes) with one lookup instead of three.
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { try optional(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try optional(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try optional(type, key) }
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try optional(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try optional(type, key) }

    private func optional<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        guard let node = decoder.lookup(key.stringValue), !node.isNull else { return nil }
        return try decoder.context.unbox(T.self, node, .child(decoder, .key(key.stringValue)))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try superDecoder(forKey: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try superDecoder(forKey: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { decoder }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        NodeDecoder(node: try value(key), place: .child(decoder, .key(key.stringValue)), context: decoder.context)
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

    private mutating func nextNode() throws -> (Node, Place) {
        guard !isAtEnd else {
            throw DecodingProblem(path: decoder.path, mark: decoder.node.mark, message: "list has too few elements")
        }
        defer { currentIndex += 1 }
        return (items[currentIndex], .child(decoder, .index(currentIndex)))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (node, place) = try nextNode()
        return try decoder.context.unbox(T.self, node, place)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try superDecoder().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try superDecoder().unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (node, place) = try nextNode()
        return NodeDecoder(node: node, place: place, context: decoder.context)
    }
}

struct SingleValueNodeContainer: SingleValueDecodingContainer {
    let decoder: NodeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.node.isNull }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try decoder.context.unbox(T.self, decoder.node, decoder.place)
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
