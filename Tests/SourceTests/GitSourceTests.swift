import Foundation
import GantryTestSupport
import Processes
import Testing

@testable import Source

private func model(_ name: String) -> String {
    "apiVersion: gantry.dev/v1alpha1\nkind: Model\nmetadata: { name: \(name) }\nspec: { pipeline: p, target: local }\n"
}

private let pipeline = """
    apiVersion: gantry.dev/v1alpha1
    kind: Pipeline
    metadata: { name: p }
    spec:
      steps: [{ name: s, command: [python3, t.py] }]
      artifact: { step: s, path: m }
    """

/// A repository with a project under `ml/` holding `count` model files.
private func makeRepo(count: Int) async throws -> String {
    let repo = makeTemporaryDirectory("repo") + "/work"
    try FileManager.default.createDirectory(atPath: repo + "/ml/models", withIntermediateDirectories: true)
    try await git(["init", "-q", "-b", "main"], in: repo)
    try pipeline.write(toFile: repo + "/ml/pipeline.yaml", atomically: true, encoding: .utf8)
    for i in 0..<count { try model("m\(i)").write(toFile: repo + "/ml/models/m\(i).yaml", atomically: true, encoding: .utf8) }
    try "outside the project\n".write(toFile: repo + "/README.md", atomically: true, encoding: .utf8)
    try await git(["add", "-A"], in: repo)
    try await git(["commit", "-q", "-m", "Initial models"], in: repo, author: "Grace Hopper", email: "grace@example.com")
    return repo
}

@Suite struct GitSourceTests {
    @Test func aRevisionIsASnapshotWithCommitAuthorAndManifests() async throws {
        let repo = try await makeRepo(count: 3)
        let source = try GitSource(location: repo, ref: nil, path: "ml", cacheDirectory: makeTemporaryDirectory("cache"))
        let revision = try source.fetch()
        #expect(revision.isValid, "\(revision.diagnostics)")
        #expect(revision.manifests.models.count == 3)
        #expect(revision.commit.author == "Grace Hopper <grace@example.com>")
        #expect(revision.commit.subject == "Initial models")
        #expect(revision.fileCount == 4)
        #expect(try revision.object(at: "models/m0.yaml") != nil)
        #expect(try revision.object(at: "nope") == nil)
    }

    @Test func oneChangedFileIsDecodedAgainAndAnUnchangedTreeIsNotDecodedAtAll() async throws {
        let repo = try await makeRepo(count: 20)
        let source = try GitSource(location: repo, ref: "main", path: "ml", cacheDirectory: makeTemporaryDirectory("cache"))
        _ = try source.fetch()
        #expect(source.decodeCount == 21)

        try "changed\n".write(toFile: repo + "/README.md", atomically: true, encoding: .utf8)
        try await git(["commit", "-qam", "Outside the project"], in: repo)
        let outside = try source.fetch()
        #expect(source.decodeCount == 21, "the project's tree id did not change: nothing decoded")
        #expect(outside.commit.subject == "Outside the project")

        try "notes\n".write(toFile: repo + "/ml/NOTES.txt", atomically: true, encoding: .utf8)
        try await git(["add", "-A"], in: repo)
        try await git(["commit", "-qm", "Notes beside the manifests"], in: repo)
        let notes = try source.fetch()
        #expect(source.decodeCount == 21, "no manifest changed: nothing decoded")
        #expect(notes.manifests.generation == outside.manifests.generation, "the very same set")

        try model("m5").replacingOccurrences(of: "target: local", with: "target: gpu").write(
            toFile: repo + "/ml/models/m5.yaml", atomically: true, encoding: .utf8)
        try await git(["commit", "-qam", "Move m5"], in: repo)
        let changed = try source.fetch()
        #expect(source.decodeCount == 22, "exactly one file decoded again")
        #expect(changed.diagnostics.map(\.description) == ["models/m5.yaml:4:30: error: spec.target: no Target named \"gpu\""])
    }

    /// Each revision after the first replaces the changed files' objects in
    /// the last set where it can; what it gives must be what assembling
    /// every file gives, diagnostics included.
    @Test func aSetUpdatedFromTheChangedFilesEqualsOneAssembledFromEveryFile() async throws {
        let repo = try await makeRepo(count: 6)
        let source = try GitSource(location: repo, ref: "main", path: "ml", cacheDirectory: makeTemporaryDirectory("cache"))
        _ = try source.fetch()
        let deployment = { (name: String, model: String) in
            "apiVersion: gantry.dev/v1alpha1\nkind: Deployment\nmetadata: { name: \(name) }\nspec:\n  model: \(model)\n  version: 1\n"
                + "  address: 127.0.0.1:8700\n  targets: [{ target: local }]\n  serve: { command: [python3, serve.py] }\n"
        }
        let steps: [(String, [String: String?])] = [
            ("Add a deployment", ["deployments/d.yaml": deployment("d", "m1")]),
            ("Edit one model", ["models/m2.yaml": model("m2").replacingOccurrences(of: "target: local", with: "target: local, params: { epochs: 3 }")]),
            ("Point the deployment at a missing model", ["deployments/d.yaml": deployment("d", "m77")]),
            ("Point it back", ["deployments/d.yaml": deployment("d", "m3")]),
            ("Serve it otherwise", ["deployments/d.yaml": deployment("d", "m3").replacingOccurrences(of: "serve.py", with: "app.py")]),
            ("Break a model's pipeline", ["models/m4.yaml": model("m4").replacingOccurrences(of: "pipeline: p", with: "pipeline: q")]),
            ("Mend it", ["models/m4.yaml": model("m4")]),
            ("Rename a model", ["models/m0.yaml": model("m10")]),
            ("Two models in one file", ["models/m1.yaml": model("m1") + "---\n" + model("m11")]),
            ("Delete a model", ["models/m5.yaml": nil]),
            ("Change the pipeline", ["pipeline.yaml": pipeline.replacingOccurrences(of: "t.py", with: "train.py")]),
            ("A duplicate name", ["models/m2.yaml": model("m3")]),
            ("Tell them apart", ["models/m2.yaml": model("m2")]),
        ]
        for (message, files) in steps {
            for (path, text) in files {
                if let text {
                    try FileManager.default.createDirectory(
                        atPath: repo + "/ml/" + (path as NSString).deletingLastPathComponent,
                        withIntermediateDirectories: true)
                    try text.write(toFile: repo + "/ml/" + path, atomically: true, encoding: .utf8)
                } else {
                    try FileManager.default.removeItem(atPath: repo + "/ml/" + path)
                }
            }
            try await git(["add", "-A"], in: repo)
            try await git(["commit", "-qm", message], in: repo)
            let updated = try source.fetch()
            let full = try GitSource(location: repo, ref: "main", path: "ml", cacheDirectory: makeTemporaryDirectory("cache")).fetch()
            #expect(updated.diagnostics.map(\.description) == full.diagnostics.map(\.description), "\(message)")
            #expect(updated.manifests.models.mapValues(\.spec) == full.manifests.models.mapValues(\.spec), "\(message)")
            #expect(updated.manifests.models.mapValues(\.origin.file) == full.manifests.models.mapValues(\.origin.file), "\(message)")
            #expect(updated.manifests.deployments.mapValues(\.spec) == full.manifests.deployments.mapValues(\.spec), "\(message)")
            #expect(updated.manifests.pipelines.mapValues(\.spec) == full.manifests.pipelines.mapValues(\.spec), "\(message)")
            #expect(updated.manifests.names.models == full.manifests.names.models, "\(message)")
            #expect(updated.manifests.names.deployments == full.manifests.names.deployments, "\(message)")
            #expect(full.manifests.names.models == full.manifests.models.keys.sorted())
        }
        let last = try source.fetch()
        #expect(last.isValid, "\(last.diagnostics)")
        // Edit, missing model, serve, broken pipeline: the four steps after a
        // valid revision that change no name; every other step, and the
        // first fetch, assembles every file.
        #expect(source.cache.assemblies == 1 + steps.count - 4)
        #expect(source.cache.updates == 4, "those four from the changed files alone, the tree not listed")
        #expect(Set(last.manifests.models.keys) == ["m1", "m2", "m3", "m4", "m10", "m11"])
    }

    @Test func aRemoteRepositoryIsFetchedOverGitProtocol() async throws {
        let repo = try await makeRepo(count: 2)
        let served = makeTemporaryDirectory("served")
        try await git(["clone", "-q", "--bare", repo, served + "/models.git"], in: served)
        let port = freePort()
        let source = try GitSource(location: "git://127.0.0.1:\(port)/models.git", ref: "main", path: "ml", cacheDirectory: makeTemporaryDirectory("cache"))
        // Nothing serves yet: the fetch fails, and the remote it used is
        // dropped so that the next fetch starts from a fresh one.
        // The socket is Gantry's own stream (Nagle off), which names the
        // address it could not reach.
        #expect(throws: (any Error).self) { try source.fetch() }
        do { _ = try source.fetch() } catch {
            #expect("\(error)".contains("cannot connect to 127.0.0.1:\(port): Connection refused"), "\(error)")
        }
        let daemon = try ChildProcess.spawn(
            ProcessSpec(
                argv: ["git", "daemon", "--export-all", "--base-path=\(served)", "--listen=127.0.0.1", "--port=\(port)", "--reuseaddr", served],
                environment: ProcessInfo.processInfo.environment, logPath: served + "/daemon.log"))
        defer { Task { _ = await daemon.terminate(grace: .seconds(2)) } }
        var revision: Revision?
        try await eventually("the daemon listens", timeout: .seconds(5)) {
            revision = try source.fetch()
            return true
        }
        let fetched = try #require(revision)
        #expect(fetched.manifests.models.count == 2)
        #expect(fetched.commit.subject == "Initial models")

        try model("m9").write(toFile: repo + "/ml/models/m9.yaml", atomically: true, encoding: .utf8)
        try await git(["add", "-A"], in: repo)
        try await git(["commit", "-qm", "Add m9"], in: repo)
        try await git(["push", "-q", served + "/models.git", "main"], in: repo)
        // The same remote (kept between fetches) sees the new commit.
        let next = try source.fetch()
        #expect(next.manifests.models.count == 3)
        #expect(next.commit.subject == "Add m9")
        _ = await daemon.terminate(grace: .seconds(2))
    }

    @Test func anUnknownRefIsAClearError() async throws {
        let repo = try await makeRepo(count: 1)
        let source = try GitSource(location: repo, ref: "no-such-branch", path: "", cacheDirectory: makeTemporaryDirectory("cache"))
        #expect(throws: GitSource.Failure.self) { try source.fetch() }
        do { _ = try source.fetch() } catch { #expect("\(error)".contains("cannot resolve \"no-such-branch\"")) }
        #expect(throws: GitSource.Failure.self) {
            try GitSource(location: makeTemporaryDirectory("empty"), ref: nil, path: "", cacheDirectory: makeTemporaryDirectory("c"))
        }
    }
}
