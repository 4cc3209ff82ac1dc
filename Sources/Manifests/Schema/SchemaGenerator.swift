import Foundation
import YAML

/// A type whose JSON Schema is written by hand because its YAML form is not
/// the shape its `Decodable` conformance walks (a duration string, argv).
public protocol SchemaDescribed: Decodable {
    static var jsonSchema: JSONValue { get }
    /// Any valid value, so that enclosing types can finish decoding.
    static var schemaSample: Self { get }
}

/// A `[String: Value]` map, described as an object with `additionalProperties`.
protocol SchemaMap: Decodable {
    static var valueType: any Decodable.Type { get }
    static var empty: Self { get }
}

extension Dictionary: SchemaMap where Key == String, Value: Decodable {
    static var valueType: any Decodable.Type { Value.self }
    static var empty: Self { [:] }
}

/// Derives JSON Schemas from the manifest types by walking their `Decodable`
/// conformances, so the schemas editors use cannot drift from what Gantry
/// accepts.
///
///     let schema = SchemaGenerator.schema(for: .Model)
public enum SchemaGenerator {
    public static let baseURL = "https://gantry.dev/schema/v1alpha1"

    /// The schema of one kind's whole document.
    public static func schema(for kind: Kind) -> JSONValue {
        let spec: JSONValue
        switch kind {
        case .Target: spec = describe(TargetSpec.self)
        case .Dataset: spec = describe(DatasetSpec.self)
        case .Pipeline: spec = describe(PipelineSpec.self)
        case .Model: spec = describe(ModelSpec.self)
        case .Deployment: spec = describe(DeploymentSpec.self)
        }
        let document: JSONValue = .object([
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": .string("\(baseURL)/\(kind.rawValue.lowercased()).json"),
            "title": .string("Gantry \(kind.rawValue)"),
            "type": "object",
            "additionalProperties": false,
            "required": .array(["apiVersion", "kind", "metadata", "spec"]),
            "properties": .object([
                "apiVersion": .object(["const": .string(manifestAPIVersion)]),
                "kind": .object(["const": .string(kind.rawValue)]),
                "metadata": describe(Metadata.self),
                "spec": spec,
            ]),
        ])
        return annotated(document, kind: kind, path: "")
    }

    /// `schema` with each property described as docs/manifests.md describes
    /// the field (``fieldDocs``, made from it by scripts/field-docs); a
    /// type's own description (a duration's, a command's) follows the
    /// field's.
    static func annotated(_ schema: JSONValue, kind: Kind, path: String) -> JSONValue {
        guard case .object(var object) = schema else { return schema }
        if !path.isEmpty, let text = fieldDocs["\(kind.rawValue):\(path)"] ?? fieldDocs["*:\(path)"] {
            if case .string(let own)? = object["description"] {
                object["description"] = .string(text + " " + own)
            } else {
                object["description"] = .string(text)
            }
        }
        if case .object(let properties)? = object["properties"] {
            object["properties"] = .object(
                properties.reduce(into: [:]) { out, property in
                    out[property.key] = annotated(property.value, kind: kind, path: path.isEmpty ? property.key : path + "." + property.key)
                })
        }
        if let items = object["items"] { object["items"] = annotated(items, kind: kind, path: path + "[]") }
        return .object(object)
    }

    /// The schema of any decodable type.
    public static func describe<T: Decodable>(_ type: T.Type) -> JSONValue {
        (try? sample(T.self))?.1 ?? .object([:])
    }

    /// The schema of any Gantry document: it picks the kind's own schema by
    /// `kind`, so that one modeline serves a file of several kinds.
    public static func anyKind() -> JSONValue {
        .object([
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": .string("\(baseURL)/gantry.json"),
            "title": "Gantry manifest (any kind, chosen by its kind field)",
            "type": "object",
            "required": .array(["apiVersion", "kind", "metadata", "spec"]),
            "properties": .object(["kind": .object(["enum": .array(Kind.allCases.map { .string($0.rawValue) })])]),
            "allOf": .array(
                Kind.allCases.map { kind in
                    .object([
                        "if": .object([
                            "properties": .object(["kind": .object(["const": .string(kind.rawValue)])]), "required": .array(["kind"]),
                        ]),
                        "then": .object(["$ref": .string("\(kind.rawValue.lowercased()).json")]),
                    ])
                }),
        ])
    }

    /// The files `gantry schema` writes: `<kind>.json` for each kind, and
    /// `gantry.json`, which picks among them by `kind`.
    public static func files() throws -> [(name: String, contents: String)] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let kinds = try Kind.allCases.map { kind in
            let data = try encoder.encode(schema(for: kind))
            return ("\(kind.rawValue.lowercased()).json", String(decoding: data, as: UTF8.self) + "\n")
        }
        return kinds + [("gantry.json", String(decoding: try encoder.encode(anyKind()), as: UTF8.self) + "\n")]
    }

    static let namePattern = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"

    /// A value of `T` and its schema, found by letting `T` decode itself from
    /// a decoder that records what it asks for.
    static func sample<T: Decodable>(_ type: T.Type) throws -> (T, JSONValue) {
        if T.self == String.self { return ("" as! T, .object(["type": "string"])) }
        if T.self == Int.self { return (0 as! T, .object(["type": "integer"])) }
        if T.self == Double.self { return (0.0 as! T, .object(["type": "number"])) }
        if T.self == Bool.self { return (false as! T, .object(["type": "boolean"])) }
        if let e = T.self as? any StringEnum.Type { return enumSample(e) as! (T, JSONValue) }
        if let d = T.self as? any SchemaDescribed.Type { return (d.schemaSample as! T, d.jsonSchema) }
        if let m = T.self as? any SchemaMap.Type {
            return (m.empty as! T, .object(["type": "object", "additionalProperties": describeExistential(m.valueType)]))
        }
        let recorder = SchemaRecorder()
        let value = try T(from: recorder)
        return (value, recorder.schema)
    }

    static func describeExistential(_ type: any Decodable.Type) -> JSONValue {
        func open<D: Decodable>(_ t: D.Type) -> JSONValue { describe(t) }
        return open(type)
    }

    static func enumSample<E: StringEnum>(_ type: E.Type) -> (E, JSONValue) {
        (E.allCases.first!, .object(["type": "string", "enum": .array(E.allCases.map { .string($0.rawValue) })]))
    }
}

final class SchemaRecorder: Decoder {
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]
    var properties: [String: JSONValue] = [:]
    var optional: Set<String> = []
    var element: JSONValue?
    var single: JSONValue?

    var schema: JSONValue {
        if let single { return single }
        if let element { return .object(["type": "array", "items": element]) }
        var out: [String: JSONValue] = ["type": "object", "additionalProperties": false, "properties": .object(properties)]
        let required = properties.keys.filter { !optional.contains($0) }.sorted()
        if !required.isEmpty { out["required"] = .array(required.map { .string($0) }) }
        return .object(out)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(Keyed<Key>(recorder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { Unkeyed(recorder: self) }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { Single(recorder: self) }

    func record<T: Decodable>(_ type: T.Type, key: String) throws -> T {
        var (value, schema) = try SchemaGenerator.sample(T.self)
        if key == "name", T.self == String.self, case .object(var o) = schema {
            o["pattern"] = .string(SchemaGenerator.namePattern)
            schema = .object(o)
        }
        properties[key] = schema
        return value
    }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let recorder: SchemaRecorder
        var codingPath: [any CodingKey] { [] }
        var allKeys: [Key] { [] }

        func contains(_ key: Key) -> Bool {
            recorder.optional.insert(key.stringValue)
            return true
        }

        func decodeNil(forKey key: Key) throws -> Bool { false }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try recorder.record(T.self, key: key.stringValue)
        }

        func nestedContainer<N: CodingKey>(keyedBy type: N.Type, forKey key: Key) throws -> KeyedDecodingContainer<N> {
            throw DecodingError.dataCorrupted(.init(codingPath: [key], debugDescription: "nested containers are not described"))
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            throw DecodingError.dataCorrupted(.init(codingPath: [key], debugDescription: "nested containers are not described"))
        }

        func superDecoder() throws -> any Decoder { recorder }
        func superDecoder(forKey key: Key) throws -> any Decoder { SchemaRecorder() }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        let recorder: SchemaRecorder
        var codingPath: [any CodingKey] { [] }
        var count: Int? { 1 }
        var currentIndex = 0
        var isAtEnd: Bool { currentIndex > 0 }

        mutating func decodeNil() throws -> Bool { false }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            currentIndex += 1
            let (value, schema) = try SchemaGenerator.sample(T.self)
            recorder.element = schema
            return value
        }

        mutating func nestedContainer<N: CodingKey>(keyedBy type: N.Type) throws -> KeyedDecodingContainer<N> {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "nested containers are not described"))
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "nested containers are not described"))
        }

        mutating func superDecoder() throws -> any Decoder { SchemaRecorder() }
    }

    struct Single: SingleValueDecodingContainer {
        let recorder: SchemaRecorder
        var codingPath: [any CodingKey] { [] }
        func decodeNil() -> Bool { false }
        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let (value, schema) = try SchemaGenerator.sample(T.self)
            recorder.single = schema
            return value
        }
    }
}
