import Synchronization
import YAML

/// The API group and version every Gantry manifest declares.
public let manifestAPIVersion = "gantry.dev/v1alpha1"

/// The kinds of object a manifest can declare.
public enum Kind: String, StringEnum, Codable, Comparable {
    case Target, Dataset, Pipeline, Model, Deployment

    public static func < (a: Kind, b: Kind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Name and labels of an object, as in Kubernetes.
public struct Metadata: Sendable, Hashable, Codable {
    public var name: String
    public var labels: [String: String]?
    public var annotations: [String: String]?

    public init(name: String, labels: [String: String]? = nil, annotations: [String: String]? = nil) {
        self.name = name
        self.labels = labels
        self.annotations = annotations
    }
}

/// The envelope of one manifest document.
///
///     apiVersion: gantry.dev/v1alpha1
///     kind: Model
///     metadata: { name: churn }
///     spec: { ... }
public struct Object<Spec: Codable & Sendable & Hashable>: Sendable, Hashable, Codable {
    public var apiVersion: String
    public var kind: Kind
    public var metadata: Metadata
    public var spec: Spec

    public init(kind: Kind, name: String, spec: Spec) {
        self.apiVersion = manifestAPIVersion
        self.kind = kind
        self.metadata = Metadata(name: name)
        self.spec = spec
    }
}

/// Where a document came from: its file (relative to the project root), its
/// index in the file, and the file's text, parsed again to turn a field
/// path into a line and column.
///
/// The text, not the node tree: marks are wanted only for problems, and a
/// controller holding 10,000 objects would otherwise hold every document's
/// nodes, several times the size of the text.
public struct Origin: Sendable {
    public var file: String
    public var document: Int
    /// The whole file, shared by its documents.
    public let text: SourceText

    public init(file: String, document: Int, text: SourceText) {
        self.file = file
        self.document = document
        self.text = text
    }

    /// `file:line:column` of a field such as `spec.targets[1].address`.
    public func location(of field: String) -> String {
        let mark = mark(of: FieldPath(parsing: field))
        return "\(file):\(mark.line):\(mark.column)"
    }

    /// Line and column of a field, or of its nearest present parent.
    public func mark(of path: FieldPath, keyOnly: Bool = false) -> Mark {
        guard let root = text.documents(file: file).first(where: { $0.index == document })?.root else { return Mark(line: 1, column: 1) }
        return root.resolve(path, keyOnly: keyOnly).node.mark
    }
}

/// The bytes of one manifest file.
public final class SourceText: Sendable {
    public let bytes: [UInt8]
    /// The file's documents, parsed again on the first question about a
    /// position and kept: 1,000 diagnostics in one file parse it once, not
    /// 1,000 times. Files without diagnostics never pay for it.
    private let parsed = Mutex<[Document]?>(nil)

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    func documents(file: String) -> [Document] {
        parsed.withLock { cached in
            if let cached { return cached }
            let documents = (try? YAMLParser.parse(bytes, file: file)) ?? []
            cached = documents
            return documents
        }
    }
}

/// One decoded object with where it was written. A class, and immutable:
/// the manifest cache hands the same entry to every revision whose file
/// did not change, so copying a set of 10,000 entries retains 10,000
/// references rather than every field of each, and `===` tells an
/// unchanged object in O(1).
public final class Entry<Spec: Codable & Sendable & Hashable>: Sendable {
    public let object: Object<Spec>
    public let origin: Origin

    public init(object: Object<Spec>, origin: Origin) {
        self.object = object
        self.origin = origin
    }

    // Inlinable: a plan reads a field or two of 20,000 specs, and an opaque
    // getter would copy each whole spec, retaining every field, to do so.
    @inlinable public var name: String { object.metadata.name }
    @inlinable public var spec: Spec { object.spec }
}
