import YAML

/// A problem with the manifests, located the way a compiler locates one.
///
///     models/churn.yaml:14:7: error: spec.pipeline: no Pipeline named "churn-train" (did you mean "churn-training"?)
public struct Diagnostic: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    /// The field path inside the document, empty for whole-document problems.
    public var field: String
    public var message: String

    public init(file: String, mark: Mark, field: FieldPath, message: String) {
        self.file = file
        self.line = mark.line
        self.column = mark.column
        self.field = field.description
        self.message = message
    }

    public var description: String {
        let prefix = "\(file):\(line):\(column): error: "
        return field.isEmpty ? prefix + message : prefix + "\(field): \(message)"
    }

    static func ordered(_ a: Diagnostic, _ b: Diagnostic) -> Bool {
        (a.file, a.line, a.column, a.message) < (b.file, b.line, b.column, b.message)
    }
}

extension Origin {
    /// A diagnostic at `field` of this document.
    func diagnostic(_ field: FieldPath, _ message: String, keyOnly: Bool = false) -> Diagnostic {
        Diagnostic(file: file, mark: mark(of: field, keyOnly: keyOnly), field: field, message: message)
    }

    func diagnostic(_ field: String, _ message: String) -> Diagnostic {
        diagnostic(FieldPath(parsing: field), message)
    }
}
