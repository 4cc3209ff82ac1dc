import ArgumentParser
import Foundation
import Manifests

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check every manifest under a directory and list every problem.",
        discussion: """
            Reads every .yaml and .yml file under DIR (hidden directories are
            skipped), decodes the Gantry documents among them and checks fields,
            names, references between objects and pipeline graphs. Exits 0 when
            valid and 1 when not.

            Examples:
              gantry validate examples/quickstart
              gantry validate -o json . | jq '.diagnostics[].message'
            """
    )

    @Argument(help: "The directory to read.", completion: .directory)
    var directory: String = "."

    @Option(name: .shortAndLong, help: "Output format: text or json.")
    var output: OutputFormat = .text

    func run() throws {
        let result: (set: ManifestSet, diagnostics: [Diagnostic], files: Int)
        do {
            result = try DirectoryLoader.load(directory)
        } catch {
            printError("\(error)")
            throw ExitCode(2)
        }
        switch output {
        case .text:
            for d in result.diagnostics { print(d) }
            if result.diagnostics.isEmpty {
                let objects = result.set.count == 1 ? "1 object" : "\(result.set.count) objects"
                let files = result.files == 1 ? "1 file" : "\(result.files) files"
                let kinds = result.set.count == 0 ? "" : " (\(summary(result.set)))"
                print("valid: \(objects) in \(files)\(kinds)")
            } else {
                let n = result.diagnostics.count
                print("\(n) error\(n == 1 ? "" : "s") in \(Set(result.diagnostics.map(\.file)).count) of \(result.files) files")
            }
        case .json, .yaml:
            let report = ValidationReport(
                valid: result.diagnostics.isEmpty, files: result.files,
                objects: counts(result.set), diagnostics: result.diagnostics)
            try printData(output, report)
        }
        if !result.diagnostics.isEmpty { throw ExitCode(1) }
    }

    func counts(_ set: ManifestSet) -> [String: Int] {
        [
            "Target": set.targets.count, "Dataset": set.datasets.count, "Pipeline": set.pipelines.count,
            "Model": set.models.count, "Deployment": set.deployments.count,
        ]
    }

    func summary(_ set: ManifestSet) -> String {
        counts(set).sorted { Kind(rawValue: $0.key)! < Kind(rawValue: $1.key)! }
            .filter { $0.value > 0 }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
    }
}

struct ValidationReport: Encodable {
    var valid: Bool
    var files: Int
    var objects: [String: Int]
    var diagnostics: [Diagnostic]
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// JSON for `-o json`: times as ISO-8601 UTC, as the API writes them (the
/// encoder's default, seconds since 2001, means nothing to `jq` or a person),
/// and the state store's JSON columns (a version's `lineage` and `metrics`,
/// a deployment's `detail`) as the objects they are, not as strings
/// holding JSON, so that `jq '.[-1].metrics.accuracy'` works.
/// `value` as `-o json` or `-o yaml` asks (text is each command's own).
func printData<T: Encodable>(_ format: OutputFormat, _ value: T) throws {
    print(try dataText(format, value), terminator: "")
}

/// What `printData` prints.
func dataText<T: Encodable>(_ format: OutputFormat, _ value: T) throws -> String {
    format == .yaml ? try yamlText(value) : try jsonText(value) + "\n"
}

/// YAML of the same data as `printJSON`: block mappings and sequences, keys
/// sorted, every string double-quoted (JSON's escapes are YAML's), so it
/// reads back as exactly the JSON.
func yamlText<T: Encodable>(_ value: T) throws -> String {
    var out = ""
    try JSONDecoder().decode(YAMLWriter.Value.self, from: Data(try jsonText(value).utf8)).write(indent: 0, into: &out)
    return out
}

enum YAMLWriter {
    /// JSON as decoded, so that true and 1 stay apart.
    indirect enum Value: Decodable {
        case null, bool(Bool), number(Double), string(String), array([Value]), object([String: Value])

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() {
                self = .null
            } else if let b = try? c.decode(Bool.self) {
                self = .bool(b)
            } else if let n = try? c.decode(Double.self) {
                self = .number(n)
            } else if let s = try? c.decode(String.self) {
                self = .string(s)
            } else if let a = try? c.decode([Value].self) {
                self = .array(a)
            } else {
                self = .object(try c.decode([String: Value].self))
            }
        }

        /// One line's worth, or nil for a non-empty collection.
        var scalar: String? {
            switch self {
            case .null: return "null"
            case .bool(let b): return b ? "true" : "false"
            case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
            case .string(let s): return YAMLWriter.quoted(s)
            case .array(let a): return a.isEmpty ? "[]" : nil
            case .object(let o): return o.isEmpty ? "{}" : nil
            }
        }

        func write(indent: Int, into out: inout String) {
            let pad = String(repeating: "  ", count: indent)
            if let scalar {
                out += pad + scalar + "\n"
                return
            }
            switch self {
            case .array(let items):
                for item in items {
                    if let text = item.scalar {
                        out += pad + "- " + text + "\n"
                    } else {
                        var nested = ""
                        item.write(indent: indent + 1, into: &nested)
                        out += pad + "- " + nested.dropFirst(pad.count + 2)
                    }
                }
            case .object(let fields):
                for key in fields.keys.sorted() {
                    if let text = fields[key]!.scalar {
                        out += pad + YAMLWriter.key(key) + ": " + text + "\n"
                    } else {
                        out += pad + YAMLWriter.key(key) + ":\n"
                        fields[key]!.write(indent: indent + 1, into: &out)
                    }
                }
            default: break
            }
        }
    }

    /// A mapping key: plain when it is a simple name YAML reads as that
    /// string, quoted otherwise.
    static func key(_ s: String) -> String {
        let simple =
            s.first.map { $0.isLetter || $0 == "_" } == true
            && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) }
            && !["true", "false", "yes", "no", "on", "off", "null", "y", "n"].contains(s.lowercased())
        return simple ? s : quoted(s)
    }

    /// A double-quoted scalar: JSON's escapes are YAML's.
    static func quoted(_ s: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return (try? encoder.encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    print(try jsonText(value))
}

func jsonText<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    let data = try encoder.encode(value)
    guard let tree = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
        return String(decoding: data, as: UTF8.self)
    }
    let expanded = try JSONSerialization.data(
        withJSONObject: expandingJSONColumns(tree), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
    return String(decoding: expanded, as: UTF8.self)
}

/// The record fields that hold JSON text in the state store.
let jsonColumns: Set<String> = ["lineage", "metrics", "detail"]

func expandingJSONColumns(_ value: Any) -> Any {
    if let array = value as? [Any] { return array.map(expandingJSONColumns) }
    guard let object = value as? [String: Any] else { return value }
    var out: [String: Any] = [:]
    for (key, field) in object {
        if jsonColumns.contains(key), let text = field as? String, text.hasPrefix("{") || text.hasPrefix("["),
            let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8))
        {
            out[key] = parsed
        } else {
            out[key] = expandingJSONColumns(field)
        }
    }
    return out
}
