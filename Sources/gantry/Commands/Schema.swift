import ArgumentParser
import Foundation
import Manifests

struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Write the JSON Schemas of the manifest kinds, for editors.",
        discussion: """
            The schemas are derived from the types Gantry decodes, so they accept
            exactly what `gantry validate` accepts (references between objects
            aside). Point your editor's YAML language server at them.

            Examples:
              gantry schema --out manifests/schema
              gantry schema --kind Model
            """
    )

    @Option(help: "Write one <kind>.json file per kind, and gantry.json that picks one by kind, into this directory.", completion: .directory)
    var out: String?

    @Option(help: "Print the schema of one kind.")
    var kind: Kind?

    func run() throws {
        let files = try SchemaGenerator.files()
        if let out {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            for f in files {
                try f.contents.write(toFile: (out as NSString).appendingPathComponent(f.name), atomically: true, encoding: .utf8)
            }
            print("wrote \(files.count) schemas to \(out)")
        } else {
            let wanted = kind.map { "\($0.rawValue.lowercased()).json" }
            for f in files where wanted == nil || f.name == wanted { print(f.contents, terminator: "") }
        }
    }
}

extension Kind: ExpressibleByArgument {}
