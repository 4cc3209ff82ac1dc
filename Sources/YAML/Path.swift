/// A field path inside a document, written the way users read it:
/// `spec.steps[0].command`.
public struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    public enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    public var components: [Component]

    public init(_ components: [Component] = []) {
        self.components = components
    }

    /// Parses `spec.steps[0].command`.
    public init(parsing text: String) {
        var components: [Component] = []
        for part in text.split(separator: ".") {
            var rest = Substring(part)
            if let bracket = rest.firstIndex(of: "[") {
                if bracket != rest.startIndex { components.append(.key(String(rest[..<bracket]))) }
                rest = rest[bracket...]
                while rest.first == "[", let close = rest.firstIndex(of: "]") {
                    if let i = Int(rest[rest.index(after: rest.startIndex)..<close]) {
                        components.append(.index(i))
                    }
                    rest = rest[rest.index(after: close)...]
                }
            } else {
                components.append(.key(String(rest)))
            }
        }
        self.components = components
    }

    public func appending(_ key: String) -> FieldPath {
        FieldPath(components + [.key(key)])
    }

    public func appending(_ index: Int) -> FieldPath {
        FieldPath(components + [.index(index)])
    }

    public var description: String {
        var out = ""
        for c in components {
            switch c {
            case .key(let k):
                if !out.isEmpty { out += "." }
                out += k.clipped  // a key is the user's text: shown shortened
            case .index(let i):
                out += "[\(i)]"
            }
        }
        return out
    }
}

extension Node {
    /// The deepest node on `path` and whether the whole path was found. A
    /// missing field resolves to its parent, which is where an error about a
    /// required field belongs. When `keyOnly` is set the key node of the last
    /// mapping entry is returned, which is where an unknown field is named.
    public func resolve(_ path: FieldPath, keyOnly: Bool = false) -> (node: Node, found: Bool) {
        var current = self
        for (n, component) in path.components.enumerated() {
            switch (component, current.kind) {
            case (.key(let k), .mapping(let pairs)):
                guard let pair = pairs.first(where: { $0.key.scalar == k }) else { return (current, false) }
                if keyOnly && n == path.components.count - 1 { return (pair.key, true) }
                current = pair.value
            case (.index(let i), .sequence(let items)) where items.indices.contains(i):
                current = items[i]
            default:
                return (current, false)
            }
        }
        return (current, true)
    }
}
