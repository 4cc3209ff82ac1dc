import Foundation
import Manifests
import Testing

@testable import Lineage

/// Params compare by value: `5` and `5.0` are one param, and the digests
/// of versions recorded before this rule stay what they were.
@Suite struct ParamValueTests {
    static func lineage(_ params: [String: ParamValue]) -> Lineage {
        Lineage(
            model: "m", commit: "c", pipeline: "p", pipelineDigest: "d", codePath: "src", codeTree: "t", datasets: [:], params: params,
            runtime: [:])
    }

    @Test func numbersAreEqualByValueAndNothingElseIs() {
        #expect(ParamValue.int(5) == .double(5.0))
        #expect(ParamValue.double(5.0) == .int(5))
        #expect(Set<ParamValue>([.int(5), .double(5.0), .double(-0.0), .int(0)]).count == 2, "equal values hash alike")
        #expect(ParamValue.double(0.5) != .int(0))
        #expect(ParamValue.double(5.000001) != .int(5))
        #expect(ParamValue.string("5") != .int(5), "a quoted 5 is text")
        #expect(ParamValue.bool(true) != .int(1))
        #expect(ParamValue.double(Double(Int.max)) != .int(Int.max), "no rounding through Double")
    }

    @Test func fiveAndFivePointZeroAreNoChangeAndKeepTheDigest() throws {
        let written = Self.lineage(["l2": .int(5), "lr": .double(0.5)])
        let rewritten = Self.lineage(["l2": .double(5.0), "lr": .double(0.50)])
        #expect(rewritten.changes(since: written, triggers: nil).isEmpty)
        #expect(rewritten.matches(written, triggers: nil))
        // The digest is the SHA-256 of the canonical JSON, in which both
        // are written as 5: what a version recorded by an earlier release
        // holds (`printf %s '{"codeTree":"t",…}' | sha256sum`).
        let expected = "sha256:e5e5f576d68cc544b0c40169c39f945c058c2f814f6723130618b0196c78b3c9"
        #expect(written.digest == expected)
        #expect(rewritten.digest == expected)
        // A lineage read back from the state store matches the manifest's.
        let stored = try #require(Lineage.decode(rewritten.json))
        #expect(stored.params["l2"] == .int(5) && stored.matches(rewritten, triggers: nil))

        let changed = Self.lineage(["l2": .double(5.5), "lr": .double(0.5)])
        #expect(changed.changes(since: written, triggers: nil) == ["param l2 changed (5 -> 5.5)"])
    }
}
