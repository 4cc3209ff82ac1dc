import Testing

@testable import YAML

private struct Step: Decodable, Equatable {
    var name: String
    var retries: Int?
    var weight: Double?
    var enabled: Bool?
    var tags: [String]?
    var env: [String: String]?
}

private enum Colour: String, StringEnum { case red, green, blue }
private struct Paint: Decodable { var colour: Colour }

private func node(_ text: String) throws -> Node {
    try #require(try YAMLParser.parse(text, file: "t.yaml").first?.root)
}

/// The problems decoding `text` as `T` reports; none when it decodes.
private func problems<T: Decodable>(_ type: T.Type, _ text: String) throws -> [DecodingProblem] {
    let root = try node(text)
    do {
        _ = try YAMLDecoder().decode(T.self, from: root)
        return []
    } catch {
        return error.problems
    }
}

@Suite struct DecoderTests {
    @Test func decodesPlainDecodableStructs() throws {
        let step = try YAMLDecoder().decode(
            Step.self,
            from: try node(
                """
                name: train
                retries: 3
                weight: 0.5
                enabled: true
                tags: [a, b]
                env: {A: "1"}
                """))
        #expect(step == Step(name: "train", retries: 3, weight: 0.5, enabled: true, tags: ["a", "b"], env: ["A": "1"]))
    }

    @Test func unknownFieldsAreErrorsWithASuggestionAndPosition() throws {
        let found = try problems(Step.self, "name: a\nretires: 2\ntagz: []\n")
        try #require(!found.isEmpty)
        #expect(found.count == 2)
        #expect(found[0].message == "unknown field \"retires\" (did you mean \"retries\"?)")
        #expect(found[0].mark == Mark(line: 2, column: 1))
        #expect(found[0].path.description == "retires")
        #expect(found[1].message.contains("did you mean \"tags\""))
    }

    @Test func aMissingRequiredFieldNamesTheField() throws {
        let found = try problems(Step.self, "retries: 1\n")
        try #require(!found.isEmpty)
        #expect(found.map(\.message) == ["missing required field \"name\""])
        #expect(found[0].path.description == "name")
    }

    @Test func aQuotedNumberIsNotAnInteger() throws {
        let found = try problems(Step.self, "name: a\nretries: \"3\"\n")
        try #require(!found.isEmpty)
        #expect(found[0].message == "expected an integer, found string \"3\"")
        #expect(found[0].mark == Mark(line: 2, column: 10))
    }

    @Test func typeMismatchesNameTheExpectedShape() throws {
        let found = try problems(Step.self, "name: a\ntags: x\n")
        try #require(!found.isEmpty)
        #expect(found[0].message == "expected a list, found \"x\"")
        #expect(found[0].path.description == "tags")
    }

    @Test func nestedPathsIncludeListIndexes() throws {
        struct Outer: Decodable { var steps: [Step] }
        let found = try problems(Outer.self, "steps:\n  - name: a\n  - name: b\n    enabled: maybe\n")
        try #require(!found.isEmpty)
        #expect(found[0].path.description == "steps[1].enabled")
        #expect(found[0].message == "expected true or false, found \"maybe\"")
    }

    @Test func enumValuesAreCheckedWithSuggestions() throws {
        let found = try problems(Paint.self, "colour: gren\n")
        try #require(!found.isEmpty)
        #expect(found[0].message == "unknown value \"gren\" (did you mean \"green\"?); expected one of: red, green, blue")
    }

    @Test func suggestionsOnlyForPlausibleTypos() {
        #expect(Suggestion.closest(to: "churn-train", in: ["churn-training", "fraud"]) == "churn-training")
        #expect(Suggestion.closest(to: "xyz", in: ["churn-training"]) == nil)
        #expect(Suggestion.distance("kitten", "sitting") == 3)
        // Of equally close names, the first in order, whatever order they come in.
        #expect(Suggestion.closest(to: "m77", in: ["m5", "m0", "m7"]) == "m7")
        #expect(Suggestion.closest(to: "m9", in: ["m5", "m0"]) == "m0")
        #expect(Suggestion.closest(to: "m9", in: ["m0", "m5"]) == "m0")
    }
}
