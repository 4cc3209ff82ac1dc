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
        case .json:
            let report = ValidationReport(
                valid: result.diagnostics.isEmpty, files: result.files,
                objects: counts(result.set), diagnostics: result.diagnostics)
            try printJSON(report)
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
/// encoder's default, seconds since 2001, means nothing to `jq` or a person).
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
