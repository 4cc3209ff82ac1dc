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
        #expect(specProps["type"] == .object(["type": "string", "enum": .array(["local", "agent", "ray", "mlflow", "sagemaker"])]))
        guard case .object(let creds) = specProps["credentials"] else {
            Issue.record("no credentials")
            return
        }
        #expect(creds["additionalProperties"] == SecretRef.jsonSchema)
    }
}
