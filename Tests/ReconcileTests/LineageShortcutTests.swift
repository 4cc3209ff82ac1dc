import Foundation
import Testing
@testable import Lineage
@testable import Manifests

/// Shortcuts the planner takes on every model of every reconcile must give
/// the answers of the code they stand in for.
@Suite struct LineageShortcutTests {
    static let base = Lineage(model: "churn", commit: "c1", pipeline: "train", pipelineDigest: "sha256:aa", codePath: "src",
                              codeTree: "t1", datasets: ["d": "git:1"], params: ["epochs": .int(3), "lr": .double(0.1)],
                              runtime: ["python": "3.11"])

    static var variants: [Lineage] {
        var out = [base]
        func with(_ change: (inout Lineage) -> Void) { var l = base; change(&l); out.append(l) }
        with { $0.commit = "c2" }
        with { $0.pipeline = "other" }
        with { $0.pipelineDigest = "sha256:bb" }
        with { $0.codeTree = "t2" }
        with { $0.codePath = "elsewhere" }
        with { $0.datasets["d"] = "git:2" }
        with { $0.datasets["e"] = "git:3" }
        with { $0.datasets = [:] }
        with { $0.params["epochs"] = .int(4) }
        with { $0.params["lr"] = .int(0) }
        with { $0.params["epochs"] = .double(3) }
        with { $0.params["new"] = .string("x") }
        with { $0.runtime = [:] }
        return out
    }

    @Test func matchesIsExactlyNoChanges() {
        let triggers: [Triggers?] = [nil, Triggers(data: false, code: nil, params: nil, schedule: nil),
                                     Triggers(data: nil, code: false, params: false, schedule: nil),
                                     Triggers(data: true, code: true, params: true, schedule: nil)]
        for a in Self.variants {
            for b in Self.variants {
                for t in triggers {
                    #expect(a.matches(b, triggers: t) == a.changes(since: b, triggers: t).isEmpty, "\(a) vs \(b) with \(String(describing: t))")
                }
            }
        }
    }

    @Test func hexDigitsAreWhatFormattingWrites() {
        let bytes: [UInt8] = [0, 1, 9, 10, 15, 16, 127, 128, 171, 255]
        #expect(bytes.hexString == bytes.map { String(format: "%02x", $0) }.joined())
        #expect(Digest.sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
