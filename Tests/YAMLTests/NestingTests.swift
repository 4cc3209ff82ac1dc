import Testing
@testable import YAML

/// The tree builder reuses its lists of children level by level; siblings
/// and cousins must not see each other's keys or items.
@Suite struct NestingTests {
    @Test func siblingMappingsMayRepeatEachOthersKeys() throws {
        let text = "a: {x: 1, y: [1, 2]}\nb: {x: 2, y: [3]}\nc: [{x: 1}, {x: 2, z: {x: 3}}]\n"
        let root = try #require(try YAMLParser.parse(text, file: "t").first?.root)
        #expect(root["a"]?["x"]?.scalar == "1")
        #expect(root["b"]?["x"]?.scalar == "2")
        #expect(root["a"]?["y"]?[1]?.scalar == "2")
        #expect(root["b"]?["y"]?[1] == nil)
        #expect(root["c"]?[1]?["z"]?["x"]?.scalar == "3")
        guard case .mapping(let pairs) = root.kind else { Issue.record("not a mapping"); return }
        #expect(pairs.map { $0.key.scalar } == ["a", "b", "c"])
    }

    @Test func aDuplicateKeyIsFoundAtAnyDepth() {
        #expect(throws: YAMLSyntaxError.self) { try YAMLParser.parse("a: {x: 1}\nb: {y: 1, y: 2}\n", file: "t") }
        #expect(throws: YAMLSyntaxError.self) { try YAMLParser.parse("a: [{x: 1, x: 2}]\n", file: "t") }
    }

    @Test func documentsAfterAnErrorFreeOneStartClean() throws {
        let docs = try YAMLParser.parse("a: {k: [1, {k: 2}]}\n---\nk: 3\n---\n[1, 2]\n", file: "t")
        #expect(docs.count == 3)
        #expect(docs[1].root?["k"]?.scalar == "3")
        #expect(docs[2].root?[1]?.scalar == "2")
    }
}
