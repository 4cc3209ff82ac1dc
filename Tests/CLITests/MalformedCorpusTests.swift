import Foundation
import GantryTestSupport
import Processes
import Testing

private let corpus = packageRoot + "/Tests/Corpus/malformed"

/// What one run of `gantry validate` under the bounds did.
private struct Outcome {
    var status: Processes.ExitStatus
    var output: String
}

/// Runs `gantry validate DIR` with 1 GiB of address space at most (prlimit)
/// and a 20-second deadline: a case that crashes, hangs or allocates
/// without bound shows as a signal or a timeout instead of an exit of 1.
private func validate(_ directory: String) async throws -> Outcome {
    let result = try await runCommand(
        ["prlimit", "--as=1073741824", gantryExecutable, "validate", directory],
        environment: ["PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory()], timeout: .seconds(20))
    return Outcome(status: result.timedOut ? .signaled(SIGKILL) : result.status, output: result.output)
}

/// Tests/Corpus/malformed (made by Tests/Corpus/generate.py): every case
/// gets its own error, at a line, and none crashes, hangs or runs out of
/// memory.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct MalformedCorpusTests {
    @Test func everyMalformedManifestIsReportedWithItsErrorAndNeverCrashesOrHangs() async throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: corpus).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(names.count >= 200, "the corpus has \(names.count) cases")
        for name in names {
            let bytes = try #require(FileManager.default.contents(atPath: corpus + "/" + name))
            let header = String(decoding: bytes.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
            let expected = try #require(header.hasPrefix("# expect: ") ? String(header.dropFirst(10)) : nil, "\(name) names its expected error")
            let directory = makeTemporaryDirectory("gantry-corpus-case")
            try bytes.write(to: URL(fileURLWithPath: directory + "/case.yaml"))
            let outcome = try await validate(directory)
            #expect(outcome.status == .exited(1), "\(name): \(outcome.status) \(outcome.output.prefix(300))")
            #expect(outcome.output.contains(expected), "\(name): expected \(expected) in \(outcome.output.prefix(400))")
            #expect(outcome.output.contains(": error: "), "\(name) names a position")
            #expect(outcome.output.split(separator: "\n").allSatisfy { $0.utf8.count < 600 }, "\(name): an error never echoes a whole value")
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// Too big to commit: made here. Each is refused in time and memory.
    @Test func hugeDeepAndManyFoldedInputsAreRefusedWithinTheBounds() async throws {
        let cases: [(String, String, String)] = [
            (
                "nested 2,000 levels", "x: " + String(repeating: "[", count: 2000) + String(repeating: "]", count: 2000) + "\n",
                "nested deeper than 64 levels"
            ),
            (
                "a 10 MB name",
                "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata: { name: " + String(repeating: "a", count: 10_000_000)
                    + " }\nspec:\n  source: { path: a }\n", "is longer than 63 characters"
            ),
            ("20,000 labels with one repeated", "a:\n" + (0..<20_000).map { "  l\($0): v\n" }.joined() + "  l19999: again\n", "duplicate key \"l19999\""),
            (
                "1,000 objects of one name",
                Array(
                    repeating: "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata: { name: same }\nspec:\n  source: { path: a }\n",
                    count: 1000
                ).joined(separator: "---\n"), "999 errors"
            ),
        ]
        for (what, text, expected) in cases {
            let directory = makeTemporaryDirectory("gantry-corpus-big")
            try text.write(toFile: directory + "/case.yaml", atomically: true, encoding: .utf8)
            let outcome = try await validate(directory)
            #expect(outcome.status == .exited(1), "\(what): \(outcome.status)")
            #expect(outcome.output.contains(expected), "\(what): \(outcome.output.prefix(300))")
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// What a work tree can hold besides files: links out of it, a FIFO,
    /// a device. None is read; none blocks.
    @Test func specialFilesInTheTreeAreNeitherReadNorWaitedOn() async throws {
        let directory = makeTemporaryDirectory("gantry-corpus-special")
        let outside = makeTemporaryDirectory("gantry-corpus-outside")
        try "secret-content: [unclosed\n".write(toFile: outside + "/secret.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: directory + "/stolen.yaml", withDestinationPath: outside + "/secret.yaml")
        try FileManager.default.createSymbolicLink(atPath: directory + "/zero.yaml", withDestinationPath: "/dev/zero")
        try FileManager.default.createSymbolicLink(atPath: directory + "/passwd.yaml", withDestinationPath: "/etc/passwd")
        #expect(mkfifo(directory + "/fifo.yaml", 0o600) == 0)
        let outcome = try await validate(directory)
        #expect(outcome.status == .exited(1), "\(outcome.status) \(outcome.output)")
        for link in ["passwd.yaml", "stolen.yaml", "zero.yaml"] {
            #expect(outcome.output.contains("\(link):1:1: error: a symbolic link that leaves the directory"), "\(outcome.output)")
        }
        #expect(!outcome.output.contains("secret-content") && !outcome.output.contains("root:"), "no other file's text is printed")
    }
}
