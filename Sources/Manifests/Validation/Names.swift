/// Object names follow DNS-1123 labels, as in Kubernetes, so they can become
/// hostnames, branch names and file names without escaping.
enum Names {
    static func problem(with name: String) -> String? {
        if name.isEmpty { return "a name must not be empty" }
        if name.utf8.count > 63 { return "name \"\(name)\" is longer than 63 characters" }
        let valid = name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
        if !valid || name.hasPrefix("-") || name.hasSuffix("-") {
            return "invalid name \"\(name)\": use lowercase letters, digits and '-', starting and ending with a letter or digit"
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
