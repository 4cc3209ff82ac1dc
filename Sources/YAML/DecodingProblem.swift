/// Something wrong with a document's content, at a field and a position.
public struct DecodingProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: FieldPath
    public var mark: Mark
    public var message: String

    public init(path: FieldPath, mark: Mark, message: String) {
        self.path = path
        self.mark = mark
        self.message = message
    }

    public var description: String {
        path.components.isEmpty ? message : "\(path): \(message)"
    }
}

/// Every problem found while decoding one document; the document yields no value.
public struct DecodingFailure: Error, Sendable {
    public var problems: [DecodingProblem]

    public init(problems: [DecodingProblem]) { self.problems = problems }
}

/// A string-valued enum whose invalid values are reported with the list of
/// valid ones and a did-you-mean.
public protocol StringEnum: RawRepresentable, CaseIterable, Sendable, Decodable where RawValue == String {}

extension String {
    /// The text as an error message quotes it: at most 80 characters, so
    /// that a 10 MB value is not echoed whole into a log or a pull-request
    /// comment.
    ///
    ///     "name \"\(name.clipped)\" is longer than 63 characters"
    public var clipped: String {
        utf8.count <= 80 ? self : String(prefix(77)) + "..."
    }
}
