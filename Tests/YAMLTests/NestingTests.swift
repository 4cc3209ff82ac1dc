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
        guard case .mapping(let pairs) = root.kind else {
            Issue.record("not a mapping")
            return
        }
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

/// Input made to hurt the parser: each is refused with a position, in time
/// linear in its size, without exhausting the stack or memory.
@Suite struct HostileYAMLTests {
    @Test func nestingDeeperThanAnyManifestIsAnErrorNotAStackOverflow() throws {
        let deep = "x: " + String(repeating: "[", count: 2000) + String(repeating: "]", count: 2000) + "\n"
        #expect(throws: YAMLSyntaxError.self) { try YAMLParser.parse(deep, file: "deep.yaml") }
        do { _ = try YAMLParser.parse(deep, file: "deep.yaml") } catch let error as YAMLSyntaxError {
            #expect(error.description == "deep.yaml:1:67: error: nested deeper than 64 levels")
        }
        let fine = "x: " + String(repeating: "[", count: 60) + String(repeating: "]", count: 60) + "\n"
        #expect(try YAMLParser.parse(fine, file: "ok.yaml").count == 1)
    }

    @Test func aBillionLaughsIsRefusedBeforeItExpands() throws {
        var text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for (previous, name) in zip("abcdefgh", "bcdefghi") {
            text += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
        }
        do {
            _ = try YAMLParser.parse(text, file: "lol.yaml")
            Issue.record("a document of a billion nodes was accepted")
        } catch let error as YAMLSyntaxError {
            #expect(error.message == "the document expands to more than 1000000 nodes through its aliases")
        }
        // A few aliases, as people use them, are fine.
        let anchors = try YAMLParser.parse("base: &b {x: 1}\none: *b\ntwo: *b\n", file: "ok.yaml")
        #expect(anchors.first?.root?["two"]?["x"]?.scalar == "1")
    }

    @Test func aLongMappingFindsItsRepeatedKeyAnywhere() throws {
        let keys = (0..<20_000).map { "  k\($0): v\n" }.joined()
        #expect(try YAMLParser.parse("m:\n" + keys, file: "long.yaml").first?.root?["m"]?["k19999"]?.scalar == "v")
        do {
            _ = try YAMLParser.parse("m:\n" + keys + "  k3: again\n", file: "long.yaml")
            Issue.record("the repeated key was not found")
        } catch let error as YAMLSyntaxError {
            #expect(error.description == "long.yaml:20002:3: error: duplicate key \"k3\"")
        }
    }

    @Test func bytesThatAreNotTextAreReportedWhereTheyAre() {
        for (bytes, message) in [
            ([UInt8](Array("a: 1\nb: x\u{7}y\n".utf8)), "control characters are not allowed"),
            (Array("a: 1\nb: x".utf8) + [0xFF] + Array("y\n".utf8), "invalid leading UTF-8 octet"),
            (Array("a: 1\nb: é".utf8) + [0] + Array("\n".utf8), "control characters are not allowed"),
        ] {
            do {
                _ = try YAMLParser.parse(bytes, file: "bad.yaml")
                Issue.record("accepted \(bytes)")
            } catch let error as YAMLSyntaxError {
                #expect(error.description == "bad.yaml:2:5: error: \(message)")
            } catch {
                Issue.record("\(error)")
            }
        }
    }
}
