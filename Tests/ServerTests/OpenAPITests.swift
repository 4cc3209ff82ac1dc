import Foundation
import GantryTestSupport
import Server
import Testing
import YAML

struct OpenAPITests {
    @Test func theOpenAPIDocumentParsesAndDocumentsEveryRoute() throws {
        let path = packageRoot + "/docs/openapi.yaml"
        let documents = try YAMLParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: path))), file: path)
        let root = try #require(documents.first?.root)
        #expect(root["openapi"]?.scalar?.hasPrefix("3.") == true)
        let paths = try #require(root["paths"])
        guard case .mapping(let entries) = paths.kind else {
            Issue.record("paths is not a mapping")
            return
        }
        var documented: Set<String> = []
        for entry in entries {
            guard let p = entry.key.scalar, case .mapping(let operations) = entry.value.kind else { continue }
            for op in operations {
                guard let method = op.key.scalar else { continue }
                documented.insert("\(method.uppercased()) \(p)")
                #expect(op.value["responses"] != nil, "\(method) \(p) has no responses")
                #expect(op.value["summary"]?.scalar?.isEmpty == false, "\(method) \(p) has no summary")
            }
        }
        let implemented = Set(GantryServer.routes.map { "\($0.method) \($0.path)" })
        #expect(implemented.subtracting(documented).isEmpty, "undocumented: \(implemented.subtracting(documented).sorted())")
        #expect(documented.subtracting(implemented).isEmpty, "documented but not served: \(documented.subtracting(implemented).sorted())")
        // The roles the document states agree with the ones enforced.
        for route in GantryServer.routes where route.path.hasPrefix("/api/") {
            let summary = root["paths"]?[route.path]?[route.method.lowercased()]?["summary"]?.scalar ?? ""
            #expect(summary.contains("Role \(route.role!.rawValue)."), "\(route.method) \(route.path): \(summary)")
        }
    }
}
