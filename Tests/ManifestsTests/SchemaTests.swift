import Foundation
import GantryTestSupport
import Testing

@testable import Manifests

@Suite struct SchemaTests {
    /// The committed schemas are what the code generates; run
    /// `gantry schema --out manifests/schema` after changing a manifest type.
    @Test func committedSchemasMatchTheSwiftTypes() throws {
        let root = URL(fileURLWithPath: packageRoot)
        for file in try SchemaGenerator.files() {
            let committed = try String(contentsOf: root.appendingPathComponent("manifests/schema/\(file.name)"), encoding: .utf8)
            #expect(committed == file.contents, "manifests/schema/\(file.name) is stale: run `gantry schema --out manifests/schema`")
        }
    }

    /// Every field an editor completes has the reference's description,
    /// and the descriptions are the reference's current words.
    @Test func everyFieldIsDescribedInTheWordsOfTheReference() async throws {
        let check = try await runCommand(["python3", packageRoot + "/scripts/field-docs", "--check"])
        #expect(check.status.succeeded, "\(check.output)")
        var missing: [String] = []
        func walk(_ kind: Kind, _ value: JSONValue, _ path: String) {
            guard case .object(let object) = value else { return }
            if !path.isEmpty, !path.hasSuffix("[]"), object["description"] == nil { missing.append("\(kind.rawValue):\(path)") }
            if case .object(let properties)? = object["properties"] {
                for (key, sub) in properties { walk(kind, sub, path.isEmpty ? key : path + "." + key) }
            }
            if let items = object["items"] { walk(kind, items, path + "[]") }
        }
        for kind in Kind.allCases { walk(kind, SchemaGenerator.schema(for: kind), "") }
        #expect(missing.isEmpty, "fields without a description (add them to docs/manifests.md, run scripts/field-docs): \(missing.sorted())")
        guard case .object(let doc) = SchemaGenerator.schema(for: .Deployment), case .object(let props)? = doc["properties"],
            case .object(let spec)? = props["spec"], case .object(let fields)? = spec["properties"],
            case .object(let strategy)? = fields["strategy"], case .object(let strategyFields)? = strategy["properties"],
            case .object(let pause)? = strategyFields["pause"]
        else {
            Issue.record("unexpected shape")
            return
        }
        #expect(
            pause["description"]
                == .string(
                    (SchemaGenerator.fieldDocs["Deployment:spec.strategy.pause"] ?? "?") + " A duration with units, such as 500ms, 30s, 10m, 1h30m or 2d."),
            "a field's words first, then its type's")
    }

    @Test func schemasDescribeRequiredFieldsEnumsAndClosedObjects() throws {
        guard case .object(let doc) = SchemaGenerator.schema(for: .Target),
            case .object(let props) = doc["properties"],
            case .object(let spec) = props["spec"],
            case .object(let specProps) = spec["properties"]
        else {
            Issue.record("unexpected shape")
            return
        }
        #expect(spec["required"] == .array(["type"]))
        #expect(spec["additionalProperties"] == .bool(false))
        #expect(
            specProps["type"]
                == .object([
                    "type": "string", "enum": .array(["local", "agent", "ray", "mlflow", "sagemaker"]),
                    "description": .string(SchemaGenerator.fieldDocs["Target:spec.type"] ?? "?"),
                ]))
        guard case .object(let creds) = specProps["credentials"] else {
            Issue.record("no credentials")
            return
        }
        #expect(creds["additionalProperties"] == SecretRef.jsonSchema)
    }
}
