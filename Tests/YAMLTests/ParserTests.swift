import Testing

@testable import YAML

@Suite struct ParserTests {
    @Test func nodesKeepTheirLineAndColumn() throws {
        let text = """
            kind: Model
            spec:
              params:
                epochs: 300
              datasets: [a, b]
            """
        let root = try #require(try YAMLParser.parse(text, file: "m.yaml").first?.root)
        #expect(root["kind"]?.mark == Mark(line: 1, column: 7))
        #expect(root["spec"]?["params"]?["epochs"]?.mark == Mark(line: 4, column: 13))
        #expect(root["spec"]?["datasets"]?[1]?.scalar == "b")
        #expect(root["spec"]?["datasets"]?[1]?.mark == Mark(line: 5, column: 17))
    }

    @Test func aFileMayHoldSeveralDocuments() throws {
        let docs = try YAMLParser.parse("a: 1\n---\nb: 2\n---\n", file: "x.yaml")
        #expect(docs.count == 3)
        #expect(docs[1].root?["b"]?.scalar == "2")
        #expect(docs[1].start.line == 2)
        #expect(docs[2].root == nil)
    }

    @Test func quotedScalarsRememberTheirStyle() throws {
        let root = try #require(try YAMLParser.parse("a: '3'\nb: 3\nc: ~\n", file: "x").first?.root)
        guard case .scalar(_, let style) = root["a"]!.kind else {
            Issue.record("not a scalar")
            return
        }
        #expect(style == .singleQuoted)
        #expect(root["b"]!.isNull == false)
        #expect(root["c"]!.isNull)
    }

    @Test func aliasesResolveWithinADocument() throws {
        let root = try #require(try YAMLParser.parse("base: &b {x: 1}\nother: *b\n", file: "x").first?.root)
        #expect(root["other"]?["x"]?.scalar == "1")
    }

    @Test func anAliasToAnotherDocumentIsAnError() {
        #expect(throws: YAMLSyntaxError.self) {
            _ = try YAMLParser.parse("a: &x 1\n---\nb: *x\n", file: "x")
        }
    }

    @Test func syntaxErrorsCarryLibyamlsMessageAndPosition() {
        do {
            _ = try YAMLParser.parse("a: [1, 2\nb: 3\n", file: "bad.yaml")
            Issue.record("expected a syntax error")
        } catch let e as YAMLSyntaxError {
            #expect(e.file == "bad.yaml")
            #expect(e.message.contains("flow sequence"))
            #expect(e.mark.line == 2)
            #expect(e.description.hasPrefix("bad.yaml:2:"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func duplicateKeysAreRefused() {
        #expect(throws: YAMLSyntaxError.self) {
            _ = try YAMLParser.parse("a: 1\na: 2\n", file: "x")
        }
    }

    @Test func fieldPathsResolveToTheirNodes() throws {
        let root = try #require(try YAMLParser.parse("spec:\n  steps:\n    - name: a\n      command: [x]\n", file: "x").first?.root)
        let path = FieldPath(parsing: "spec.steps[0].command")
        #expect(path.description == "spec.steps[0].command")
        #expect(root.resolve(path).found)
        #expect(root.resolve(path).node.mark == Mark(line: 4, column: 16))
        let missing = root.resolve(FieldPath(parsing: "spec.steps[0].timeout"))
        #expect(!missing.found)
        #expect(missing.node.mark.line == 3)
    }
}
