import Crypto
import Foundation
import GantryTestSupport
import Lineage
import Testing

/// Data snapshots, end to end through the CLI: a version's data is kept
/// when it trains, a changed file costs only its own bytes, `data diff`
/// names the file and its rows, `reproduce` restores the old data and
/// reproduces exactly, `data checkout` writes it out, and `gc` keeps what
/// Git pins reproducible.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SnapshotTests {
    static func manifests(pin: Int?) -> String {
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Dataset
        metadata: { name: events }
        spec: { source: { path: DATA } }
        ---
        apiVersion: gantry.dev/v1alpha1
        kind: Pipeline
        metadata: { name: count }
        spec:
          steps:
            - name: train
              command: [python3, -c, "import glob, json, sys\\nrows = sum(len(open(f).read().splitlines()) - 1 for f in sorted(glob.glob(sys.argv[1] + '/*.csv')))\\nopen(sys.argv[2] + '/model.txt', 'w').write(str(rows))\\njson.dump({'rows': rows}, open(sys.argv[2] + '/metrics.json', 'w'))", "${datasets.events}", "${outputs}"]
              outputs: [model.txt, metrics.json]
          artifact: { step: train, path: model.txt }
          metrics: { step: train, path: metrics.json }
        ---
        apiVersion: gantry.dev/v1alpha1
        kind: Model
        metadata: { name: counter }
        spec: { pipeline: count, datasets: [events], target: local, triggers: { data: true } }
        """
            + (pin.map {
                """

                ---
                apiVersion: gantry.dev/v1alpha1
                kind: Deployment
                metadata: { name: counter-prod }
                spec:
                  model: counter
                  version: \($0)
                  address: 127.0.0.1:1
                  serve: { command: [python3, -m, http.server, "${port}"] }
                  targets: [{ target: local }]
                """
            } ?? "")
    }

    func directorySize(_ path: String) -> Int64 {
        let files = FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []
        return files.reduce(Int64(0)) { total, file in
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: path + "/" + file, isDirectory: &isDirectory)
            return total + (isDirectory.boolValue ? 0 : ((try? FileManager.default.attributesOfItem(atPath: path + "/" + file)[.size] as? Int64) ?? 0)!)
        }
    }

    @Test func aChangedFileIsKeptOnceDiffedByRowAndTheOldDataRestoredToReproduce() async throws {
        let data = makeTemporaryDirectory("gantry-events")
        let a = "user,clicks\n1,3\n2,5\n"
        let b = "user,clicks\n7,1\n8,2\n9,4\n"
        try a.write(toFile: data + "/a.csv", atomically: true, encoding: .utf8)
        try b.write(toFile: data + "/b.csv", atomically: true, encoding: .utf8)
        let repository = try await ProjectRepository("gantry-snapshots")
        repository.write("gantry.yaml", Self.manifests(pin: nil).replacingOccurrences(of: "DATA", with: data))
        try await repository.commit("Count events")
        let state = makeTemporaryDirectory("gantry-snapshot-state")
        func gantry(_ arguments: [String]) async throws -> CommandResult {
            try await GantryTestSupport.gantry(arguments + ["--state-dir", state], in: repository.directory, timeout: .seconds(120))
        }
        let snapshots = state + "/snapshots/objects"

        let first = try await gantry(["apply", "--repo", repository.directory])
        #expect(first.code == 0, "\(first.output)")
        #expect(first.output.contains("snapshot of dataset events for v1: \(a.utf8.count + b.utf8.count) new bytes"), "\(first.output)")
        let sizeAfterV1 = directorySize(snapshots)
        #expect(sizeAfterV1 == Int64(a.utf8.count + b.utf8.count))

        // One file changes: two rows added, one removed.
        let changed = "user,clicks\n7,1\n9,4\n10,6\n11,2\n"
        try changed.write(toFile: data + "/b.csv", atomically: true, encoding: .utf8)
        // A plan of a pull request names the data the retraining would read.
        let review = try await gantry(["plan", "--repo", repository.directory, "--base", "main", "--head", "main"])
        #expect(review.code == 2, "\(review.output)")
        #expect(
            review.output.contains(
                "Data a retraining reads, against the latest version's snapshot:\n  counter (since v1):\n"
                    + "    modified events/b.csv (\(b.utf8.count) -> \(changed.utf8.count) bytes, rows +2 -1)\n      + 10,6\n"),
            "\(review.output)")
        let markdown = try await gantry(["plan", "--repo", repository.directory, "--base", "main", "--head", "main", "-o", "markdown"])
        #expect(markdown.output.contains("#### Data a retraining reads") && markdown.output.contains("    - `- 8,2`"), "\(markdown.output)")
        let second = try await gantry(["apply", "--repo", repository.directory])
        #expect(second.code == 0 && second.output.contains("registered counter@v2"), "\(second.output)")
        #expect(directorySize(snapshots) - sizeAfterV1 == Int64(changed.utf8.count), "the store grew by the changed file alone")

        let diff = try await gantry(["data", "diff", "counter@1", "counter@2"])
        #expect(diff.code == 2, "\(diff.output)")
        #expect(diff.output.contains("modified  events/b.csv  (\(b.utf8.count) -> \(changed.utf8.count) bytes)"), "\(diff.output)")
        #expect(diff.output.contains("rows: +2 -1") && diff.output.contains("+ 10,6") && diff.output.contains("- 8,2"), "\(diff.output)")
        #expect(!diff.output.contains("a.csv"))
        let lineage = try await gantry(["lineage", "counter@2"])
        #expect(
            lineage.output.contains("  data        modified events/b.csv (\(b.utf8.count) -> \(changed.utf8.count) bytes, rows +2 -1)"),
            "the lineage names the changed file: \(lineage.output)")
        let lineageJSON = try await gantry(["lineage", "counter@2", "-o", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(lineageJSON.output.utf8)) as? [String: Any]
        let dataChanges = try #require(object?["dataChanges"] as? [[String: Any]], "\(lineageJSON.output)")
        #expect(dataChanges.map { $0["path"] as? String } == ["b.csv"] && dataChanges.first?["rowsAdded"] as? Int == 2)
        let same = try await gantry(["data", "diff", "counter@2", "counter@2"])
        #expect(same.code == 0 && same.output.contains("trained on the same data"), "\(same.output)")

        let reproduced = try await gantry(["reproduce", "counter@1", "--repo", repository.directory])
        #expect(reproduced.code == 0, "\(reproduced.output)")
        #expect(reproduced.output.contains("dataset events changed since v1"), "\(reproduced.output)")
        #expect(reproduced.output.contains("restored its 2 files (\(a.utf8.count + b.utf8.count) bytes) from the snapshot"))
        #expect(reproduced.output.contains("metric rows: identical (recorded 5, reproduced 5)") && reproduced.output.hasSuffix("reproduced exactly\n"))
        #expect(try String(contentsOfFile: data + "/b.csv", encoding: .utf8) == changed, "the live data is left alone")

        let out = makeTemporaryDirectory("gantry-checkout")
        let checkout = try await gantry(["data", "checkout", "counter@1", out])
        #expect(checkout.code == 0, "\(checkout.output)")
        #expect(try String(contentsOfFile: out + "/events/b.csv", encoding: .utf8) == b)
        #expect(try String(contentsOfFile: out + "/events/a.csv", encoding: .utf8) == a)

        // gc with Git pinning v1 and no other version kept: v2's own file
        // goes, v1 stays reproducible.
        repository.write("gantry.yaml", Self.manifests(pin: 1).replacingOccurrences(of: "DATA", with: data))
        try await repository.commit("Pin v1")
        let collected = try await gantry(["gc", "--repo", repository.directory, "--keep", "0"])
        #expect(collected.code == 0, "\(collected.output)")
        #expect(collected.output.contains("removed 1 dataset snapshots and 1 objects, \(changed.utf8.count) bytes"), "\(collected.output)")
        let again = try await gantry(["reproduce", "counter@1", "--repo", repository.directory])
        #expect(again.code == 0 && again.output.hasSuffix("reproduced exactly\n"), "\(again.output)")
        let gone = try await gantry(["data", "checkout", "counter@2", makeTemporaryDirectory("gantry-checkout-2")])
        #expect(gone.code == 1 && gone.output.contains("has no data snapshots"), "\(gone.output)")
    }

    /// `data snapshot` keeps a directory as a training would, by itself;
    /// `data checkout FINGERPRINT` writes it back.
    @Test func aSnapshotTakenByHandIsRestoredByItsFingerprint() async throws {
        let data = makeTemporaryDirectory("gantry-hand-data")
        try FileManager.default.createDirectory(atPath: data + "/part", withIntermediateDirectories: true)
        for i in 0..<50 { try "id,value\n\(i),\(i * i)\n".write(toFile: data + "/part/f\(i).csv", atomically: true, encoding: .utf8) }
        try "same\n".write(toFile: data + "/copy-a.txt", atomically: true, encoding: .utf8)
        try "same\n".write(toFile: data + "/copy-b.txt", atomically: true, encoding: .utf8)
        let state = makeTemporaryDirectory("gantry-hand-state")
        func gantry(_ arguments: [String]) async throws -> CommandResult {
            try await GantryTestSupport.gantry(arguments + ["--state-dir", state], in: data, timeout: .seconds(60))
        }
        let first = try await gantry(["data", "snapshot", data])
        let total = try FileManager.default.subpathsOfDirectory(atPath: data).reduce(Int64(0)) { sum, path in
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: data + "/" + path, isDirectory: &isDirectory)
            return sum + (isDirectory.boolValue ? 0 : Int64(try Data(contentsOf: URL(fileURLWithPath: data + "/" + path)).count))
        }
        #expect(first.code == 0 && first.output.contains("52 files, \(total) bytes (\(total - 5) new)"), "two equal files kept once: \(first.output)")
        let fingerprint = String(first.output.prefix { $0 != " " })
        #expect(fingerprint.hasPrefix("sha256:") && fingerprint.count == 71)

        try "id,value\n7,49\n8,64\n".write(toFile: data + "/part/f7.csv", atomically: true, encoding: .utf8)
        let second = try await gantry(["data", "snapshot", data])
        #expect(second.code == 0 && second.output.contains("(\(Int64("id,value\n7,49\n8,64\n".utf8.count)) new)"), "\(second.output)")

        let out = makeTemporaryDirectory("gantry-hand-out") + "/restored"
        let restored = try await gantry(["data", "checkout", fingerprint, out])
        #expect(restored.code == 0, "\(restored.output)")
        #expect(try String(contentsOfFile: out + "/part/f7.csv", encoding: .utf8) == "id,value\n7,49\n", "the first snapshot's bytes")
        #expect(try String(contentsOfFile: out + "/part/f49.csv", encoding: .utf8) == "id,value\n49,2401\n")
        #expect(try String(contentsOfFile: out + "/copy-b.txt", encoding: .utf8) == "same\n")

        let unknown = try await gantry(["data", "checkout", "sha256:" + String(repeating: "0", count: 64), out + "-2"])
        #expect(unknown.code != 0 && unknown.output.contains("no snapshot sha256:000"), "\(unknown.output)")
        let nonsense = try await gantry(["data", "checkout", "churn", out + "-3"])
        #expect(nonsense.code == 64 && nonsense.output.contains("MODEL@VERSION (churn@3) or a snapshot's fingerprint"), "\(nonsense.output)")
        #expect(!FileManager.default.fileExists(atPath: out + "-2") && !FileManager.default.fileExists(atPath: out + "-3"))
    }

    /// What a training ran on is captured into its lineage, without
    /// touching the digest.
    @Test func theRuntimeATrainingRanOnIsCapturedOutsideTheDigest() async throws {
        let data = makeTemporaryDirectory("gantry-runtime-data")
        try "user,clicks\n1,3\n".write(toFile: data + "/a.csv", atomically: true, encoding: .utf8)
        let repository = try await ProjectRepository("gantry-runtime")
        let lock = "numpy==1.26.4\n"
        repository.write("requirements.lock", lock)
        repository.write(
            "gantry.yaml",
            Self.manifests(pin: nil).replacingOccurrences(of: "DATA", with: data)
                .replacingOccurrences(of: "triggers: { data: true } }", with: "triggers: { data: true }, runtime: { lockfile: requirements.lock } }"))
        try await repository.commit("Count events, with a lockfile")
        let state = makeTemporaryDirectory("gantry-runtime-state")
        let applied = try await gantry(["apply", "--repo", repository.directory, "--state-dir", state], in: repository.directory)
        #expect(applied.code == 0, "\(applied.output)")
        let shown = try await gantry(["lineage", "counter@1", "-o", "json", "--state-dir", state])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(shown.output.utf8)) as? [String: Any], "\(shown.output)")
        let lineage = try #require(object["lineage"] as? [String: Any])
        let captured = try #require(lineage["captured"] as? [String: Any], "\(lineage)")

        let python = try #require(captured["interpreter"] as? String)
        #expect(python.hasSuffix("/python3"))
        let version = try await runCommand([python, "-c", "import platform; print(platform.python_version())"]).output
        #expect(captured["interpreterVersion"] as? String == version.trimmingCharacters(in: .whitespacesAndNewlines))
        let packages = try #require(captured["packagesFile"] as? String)
        let list = try String(contentsOfFile: packages, encoding: .utf8)
        #expect(captured["packagesDigest"] as? String == "sha256:" + sha256Hex(list), "the digest is the kept list's")
        #expect(captured["packages"] as? Int == list.split(separator: "\n").count)
        #expect(captured["lockfile"] as? String == "requirements.lock")
        #expect(captured["lockfileDigest"] as? String == "sha256:" + sha256Hex(lock))
        let kernel = try await runCommand(["uname", "-r"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(captured["kernel"] as? String == kernel)
        #expect((captured["os"] as? String)?.isEmpty == false && (captured["cpu"] as? String)?.isEmpty == false)
        #expect(captured["gantry"] as? String == "0.1.0")
        let names = try #require(captured["environment"] as? [String])
        #expect(names.contains("PATH") && names.contains("PYTHONUNBUFFERED") && !names.contains { $0.contains("/") }, "names only: \(names)")

        // The digest leaves the capture out: the recorded lineage, capture
        // and all, has the version's digest, the same as without it.
        let recorded = try JSONDecoder().decode(Lineage.self, from: JSONSerialization.data(withJSONObject: lineage))
        #expect(recorded.captured != nil && object["digest"] as? String == recorded.digest)
        var without = lineage
        without["captured"] = nil
        #expect(try JSONDecoder().decode(Lineage.self, from: JSONSerialization.data(withJSONObject: without)).digest == recorded.digest)
        let text = try await gantry(["lineage", "counter@1", "--state-dir", state])
        #expect(text.output.contains("ran on      \(python) \(version.trimmingCharacters(in: .whitespacesAndNewlines))"), "\(text.output)")
    }
}

func sha256Hex(_ text: String) -> String {
    SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
}
