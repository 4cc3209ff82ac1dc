import Foundation
import GantryTestSupport
import Processes
import Testing

/// A dataset behind a URL with `snapshot: true`: downloaded into the
/// snapshot store before the training (the steps read a local copy),
/// diffed by row between versions, and restored to reproduce an old
/// version after the server changed, or stopped.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct DownloadedSnapshotTests {
    static func manifests(url: String) -> String {
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Dataset
        metadata: { name: rows }
        spec: { source: { url: "\(url)" }, snapshot: true }
        ---
        apiVersion: gantry.dev/v1alpha1
        kind: Pipeline
        metadata: { name: count }
        spec:
          steps:
            - name: train
              command: [python3, -c, "import json, sys\\nrows = len(open(sys.argv[1]).read().splitlines()) - 1\\nopen(sys.argv[2] + '/model.txt', 'w').write(str(rows))\\njson.dump({'rows': rows}, open(sys.argv[2] + '/metrics.json', 'w'))", "${datasets.rows}", "${outputs}"]
              outputs: [model.txt, metrics.json]
          artifact: { step: train, path: model.txt }
          metrics: { step: train, path: metrics.json }
        ---
        apiVersion: gantry.dev/v1alpha1
        kind: Model
        metadata: { name: counter }
        spec: { pipeline: count, datasets: [rows], target: local }
        """
    }

    @Test func dataBehindAURLIsKeptReadFromTheCopyAndRestoredAfterTheServerChanged() async throws {
        let served = makeTemporaryDirectory("gantry-served")
        let first = "id,v\n1,2\n"
        try first.write(toFile: served + "/rows.csv", atomically: true, encoding: .utf8)
        let port = freePort()
        let server = try ChildProcess.spawn(
            ProcessSpec(
                argv: ["python3", "-m", "http.server", "\(port)", "--bind", "127.0.0.1", "--directory", served],
                environment: ProcessInfo.processInfo.environment, logPath: served + "/../http-\(port).log"))
        defer { Task { _ = await server.terminate(grace: .seconds(2)) } }
        let repository = try await ProjectRepository("gantry-downloaded")
        repository.write("gantry.yaml", Self.manifests(url: "http://127.0.0.1:\(port)/rows.csv"))
        try await repository.commit("Count the served rows")
        let state = makeTemporaryDirectory("gantry-downloaded-state")
        func gantry(_ arguments: [String], repo: Bool = true) async throws -> CommandResult {
            try await GantryTestSupport.gantry(
                arguments + (repo ? ["--repo", repository.directory] : []) + ["--state-dir", state], in: repository.directory,
                timeout: .seconds(120))
        }
        try await eventually("the server answers", timeout: .seconds(30)) { (try? await gantry(["data", "status"]).code) == 0 }

        let v1 = try await gantry(["apply"])
        #expect(v1.code == 0 && v1.output.contains("snapshot of dataset rows: downloaded 1 files, \(first.utf8.count) new bytes"), "\(v1.output)")
        #expect(v1.output.contains("registered counter@v1"), "the step read the copy as a file: \(v1.output)")
        let copies = try FileManager.default.contentsOfDirectory(atPath: state + "/snapshots/checkouts")
        #expect(copies.count == 1)

        let second = "id,v\n1,2\n3,4\n"
        try second.write(toFile: served + "/rows.csv", atomically: true, encoding: .utf8)
        let v2 = try await gantry(["apply"])
        #expect(v2.code == 0 && v2.output.contains("registered counter@v2"), "\(v2.output)")
        let versions = try await gantry(["versions", "counter", "-o", "json"], repo: false)
        let rows = (try JSONSerialization.jsonObject(with: Data(versions.output.utf8)) as? [[String: Any]])?.map {
            ($0["metrics"] as? [String: Any])?["rows"] as? Int
        }
        #expect(rows == [1, 2], "\(versions.output)")

        let diff = try await gantry(["data", "diff", "counter@1", "counter@2"], repo: false)
        #expect(diff.code == 2 && diff.output.contains("rows: +1 -0") && diff.output.contains("+ 3,4"), "\(diff.output)")

        // The server now serves other bytes: v1 is rebuilt from its snapshot.
        let again = try await gantry(["reproduce", "counter@1"])
        #expect(again.code == 0 && again.output.contains("restored its 1 files") && again.output.hasSuffix("reproduced exactly\n"), "\(again.output)")

        // With the server gone, v2 still is.
        _ = await server.terminate(grace: .seconds(2))
        let offline = try await gantry(["reproduce", "counter@2"])
        #expect(offline.code == 0 && offline.output.hasSuffix("reproduced exactly\n"), "\(offline.output)")
    }

    @Test func aSnapshotIsRefusedForDataInGitAndForTargetsThatReadTheirOwnData() async throws {
        let directory = makeTemporaryDirectory("gantry-snapshot-invalid")
        let text =
            Self.manifests(url: "http://127.0.0.1:9/rows.csv")
                + """

                ---
                apiVersion: gantry.dev/v1alpha1
                kind: Dataset
                metadata: { name: committed }
                spec: { source: { path: data/rows.csv }, snapshot: true }
                ---
                apiVersion: gantry.dev/v1alpha1
                kind: Target
                metadata: { name: cluster }
                spec: { type: ray, endpoint: "http://127.0.0.1:8265" }
                ---
                apiVersion: gantry.dev/v1alpha1
                kind: Model
                metadata: { name: remote }
                spec: { pipeline: count, datasets: [rows], target: cluster }
                """
        try text.write(toFile: directory + "/gantry.yaml", atomically: true, encoding: .utf8)
        let result = try await GantryTestSupport.gantry(["validate", directory], in: directory, timeout: .seconds(60))
        #expect(result.code == 1, "\(result.output)")
        #expect(result.output.contains("spec.snapshot: data in the project is kept by Git"), "\(result.output)")
        #expect(
            result.output.contains(
                "spec.datasets[0]: dataset \"rows\" is downloaded into the snapshot store for the training (snapshot: true); a ray training"),
            "\(result.output)")
    }
}
