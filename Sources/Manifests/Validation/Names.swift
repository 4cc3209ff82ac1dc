import YAML

/// Object names follow DNS-1123 labels, as in Kubernetes, so they can become
/// hostnames, branch names and file names without escaping.
enum Names {
    static func problem(with name: String) -> String? {
        if name.isEmpty { return "a name must not be empty" }
        if name.utf8.count > 63 { return "name \"\(name.clipped)\" is longer than 63 characters" }
        let valid = name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
        if !valid || name.hasPrefix("-") || name.hasSuffix("-") {
            return "invalid name \"\(name.clipped)\": use lowercase letters, digits and '-', starting and ending with a letter or digit"
        }
        return nil
    }
}

/// `${namespace.name}` references inside argv strings.
public struct Placeholder: Sendable, Hashable {
    public var namespace: String
    public var name: String?

    /// Every placeholder in `text`, in order.
    public static func all(in text: String) -> [Placeholder] {
        // Validation calls this for every argument of every object, so the
        // common cases are answered from the bytes: no `$` means no
        // placeholder, and in ASCII text a byte is a Character, so a byte
        // scan finds exactly what the Character-based scan below finds.
        var text = text
        if let found = text.withUTF8({ scanASCII($0) }) { return found }
        return scanCharacters(text)
    }

    /// Nil when the text is not ASCII and has a `$`: then only the
    /// Character-based scan is exact.
    static func scanASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> [Placeholder]? {
        let dollar = UInt8(ascii: "$")
        let open = UInt8(ascii: "{")
        let close = UInt8(ascii: "}")
        let dot = UInt8(ascii: ".")
        guard bytes.contains(dollar) else { return [] }
        guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
        func text(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
        var out: [Placeholder] = []
        var i = 0
        while i + 1 < bytes.count {
            guard bytes[i] == dollar, bytes[i + 1] == open else {
                i += 1
                continue
            }
            let bodyStart = i + 2
            guard let end = bytes[bodyStart...].firstIndex(of: close) else { break }
            if let d = bytes[bodyStart..<end].firstIndex(of: dot) {
                out.append(Placeholder(namespace: text(bodyStart..<d), name: text((d + 1)..<end)))
            } else {
                out.append(Placeholder(namespace: text(bodyStart..<end), name: nil))
            }
            i = end + 1
        }
        return out
    }

    static func scanCharacters(_ text: String) -> [Placeholder] {
        var out: [Placeholder] = []
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else { break }
            let body = rest[open.upperBound..<close]
            if let dot = body.firstIndex(of: ".") {
                out.append(Placeholder(namespace: String(body[..<dot]), name: String(body[body.index(after: dot)...])))
            } else {
                out.append(Placeholder(namespace: String(body), name: nil))
            }
            rest = rest[rest.index(after: close)...]
        }
        return out
    }

    /// The text from a `${` that no `}` closes, or nil: `"${outputs"` is a
    /// typo, not a literal to pass on.
    public static func unterminated(in text: String) -> Substring? {
        guard let open = text.range(of: "${", options: .backwards) else { return nil }
        return text[open.upperBound...].contains("}") ? nil : text[open.lowerBound...]
    }

    public var text: String { name.map { "${\(namespace).\($0)}" } ?? "${\(namespace)}" }

    /// Replaces every placeholder with `value(placeholder)`; a nil leaves it.
    public static func expand(_ text: String, _ value: (Placeholder) -> String?) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "${"), let close = rest[open.upperBound...].firstIndex(of: "}") {
            out += rest[..<open.lowerBound]
            let token = String(rest[open.lowerBound...close])
            let p = all(in: token).first!
            out += value(p) ?? token
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }
}
