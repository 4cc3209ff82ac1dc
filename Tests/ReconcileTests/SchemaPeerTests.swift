import Foundation
import GantryTestSupport
import Testing

/// The committed JSON Schemas checked by a real validator (python's
/// jsonschema, from the test peers' environment), as an editor would use
/// them: every example document passes `gantry.json`, which picks the
/// kind's schema, and a mistake is found in the right kind's schema.
@Suite struct SchemaPeerTests {
    static let check = """
        import glob, json, sys, yaml
        from jsonschema import Draft202012Validator
        from referencing import Registry, Resource
        schemas = {}
        for path in glob.glob(sys.argv[1] + "/*.json"):
            schema = json.load(open(path))
            schemas[schema["$id"]] = Resource.from_contents(schema)
        registry = Registry().with_resources(schemas.items())
        root = json.load(open(sys.argv[1] + "/gantry.json"))
        validator = Draft202012Validator(root, registry=registry)
        for path in sys.argv[2:]:
            for i, doc in enumerate(yaml.safe_load_all(open(path))):
                if doc is None:
                    continue
                for error in validator.iter_errors(doc):
                    print(f"{path}#{i}: {'/'.join(map(str, error.absolute_path))}: {error.message}")
        """

    func problems(_ files: [String]) async throws -> String {
        let result = try await runCommand([Peers.venv + "/bin/python", "-c", Self.check, packageRoot + "/manifests/schema"] + files)
        #expect(result.status.succeeded, "\(result.output)")
        return result.output
    }

    @Test func everyExampleDocumentPassesTheSchemaThatPicksItsKind() async throws {
        let examples = try FileManager.default.subpathsOfDirectory(atPath: packageRoot + "/examples")
            .filter { $0.hasSuffix(".yaml") && !$0.hasPrefix("ci/") }.map { packageRoot + "/examples/" + $0 }
        #expect(examples.count >= 7)
        for file in examples {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            #expect(text.hasPrefix("# yaml-language-server: $schema="), "\(file) has a modeline")
        }
        let found = try await problems(examples)
        #expect(found.isEmpty, "\(found)")

        let bad = makeTemporaryDirectory("schema-check") + "/bad.yaml"
        try """
        apiVersion: gantry.dev/v1alpha1
        kind: Model
        metadata: { name: churn }
        spec: { pipeline: p, targte: local }
        ---
        apiVersion: gantry.dev/v1alpha1
        kind: Deployment
        metadata: { name: churn-prod }
        spec: { model: churn, version: 1, strategy: { type: sideways } }
        """.write(toFile: bad, atomically: true, encoding: .utf8)
        let wrong = try await problems([bad])
        #expect(wrong.contains("bad.yaml#0: spec: Additional properties are not allowed ('targte' was unexpected)"), "\(wrong)")
        #expect(wrong.contains("bad.yaml#1: spec/strategy/type: 'sideways' is not one of"), "\(wrong)")
    }
}
