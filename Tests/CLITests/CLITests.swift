import Foundation
import Processes
import Testing

/// Runs the built gantry binary and returns its exit status and output.
private func gantry(_ args: [String], in directory: String? = nil, env extra: [String: String] = [:]) async throws -> (status: Int32, output: String) {
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    let binary = (me as NSString).deletingLastPathComponent + "/gantry"
    let log = NSTemporaryDirectory() + "gantry-cli-\(UUID().uuidString.prefix(8)).log"
    let env = ProcessInfo.processInfo.environment.merging(extra) { $1 }
    let result = try await Processes.run(ProcessSpec(argv: [binary] + args, environment: env, workingDirectory: directory, logPath: log), timeout: .seconds(120))
    let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    guard case .exited(let code) = result.status else { return (-1, output) }
    return (code, output)
}

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

private func tempDir() -> String {
    let path = NSTemporaryDirectory() + "gantry-cli-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite struct CLITests {
    @Test func validateAcceptsTheQuickstartAndExitsZero() async throws {
        let (status, output) = try await gantry(["validate", repositoryRoot + "/examples/quickstart"])
        #expect(status == 0)
        #expect(output == "valid: 4 objects in 4 files (1 Dataset, 1 Pipeline, 1 Model, 1 Deployment)\n")
    }

    @Test func validateListsEveryProblemAndExitsOne() async throws {
        let dir = tempDir()
        try FileManager.default.copyItem(atPath: repositoryRoot + "/examples/quickstart/manifests", toPath: dir + "/manifests")
        let model = try String(contentsOfFile: dir + "/manifests/model.yaml", encoding: .utf8)
        try model.replacingOccurrences(of: "pipeline: churn-training", with: "pipeline: churn-train")
            .replacingOccurrences(of: "target: local", with: "target: gpu")
            .write(toFile: dir + "/manifests/model.yaml", atomically: true, encoding: .utf8)
        let (status, output) = try await gantry(["validate", dir])
        #expect(status == 1)
        #expect(output.contains("manifests/model.yaml:7:13: error: spec.pipeline: no Pipeline named \"churn-train\" (did you mean \"churn-training\"?)\n"))
        #expect(output.contains("manifests/model.yaml:9:11: error: spec.target: no Target named \"gpu\""))
        #expect(output.hasSuffix("2 errors in 1 of 4 files\n"))

        let (jsonStatus, json) = try await gantry(["validate", "-o", "json", dir])
        #expect(jsonStatus == 1)
        let report = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect(report?["valid"] as? Bool == false)
        let diagnostics = report?["diagnostics"] as? [[String: Any]]
        #expect(diagnostics?.first?["line"] as? Int == 7)
        #expect(diagnostics?.first?["field"] as? String == "spec.pipeline")
    }

    @Test func validateOnAMissingDirectoryExitsTwo() async throws {
        let (status, output) = try await gantry(["validate", "/nonexistent/gantry"])
        #expect(status == 2)
        #expect(output.contains("/nonexistent/gantry: error: no such directory"))
    }

    @Test func planExitCodesTellChangesPendingAndRenderAsJSONAndMarkdown() async throws {
        let state = tempDir()
        let (status, output) = try await gantry(["plan", "--repo", repositoryRoot, "--path", "examples/quickstart", "--state-dir", state + "/s"])
        #expect(status == 2, "changes pending: \(output)")
        #expect(output.contains("train Model/churn -> v1: no version yet"))
        #expect(!FileManager.default.fileExists(atPath: state + "/s"), "plan creates no state")

        let (_, json) = try await gantry(["plan", "-o", "json", "--repo", repositoryRoot, "--path", "examples/quickstart", "--state-dir", state + "/s"])
        let plan = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let actions = plan?["actions"] as? [[String: Any]]
        #expect(actions?.map { $0["kind"] as? String } == ["train", "deploy"])

        let (_, markdown) = try await gantry(["plan", "-o", "markdown", "--repo", repositoryRoot, "--path", "examples/quickstart", "--state-dir", state + "/s"])
        #expect(markdown.contains("| train | `Model/churn` | v1 | no version yet |"))
    }

    @Test func aNotificationURLIsNamedNotWrittenOnTheCommandLine() async throws {
        let state = tempDir()
        let (status, output) = try await gantry(["controller", "--repo", repositoryRoot, "--path", "examples/quickstart", "--state-dir", state,
                                                 "--iterations", "1", "--notify-slack", "https://hooks.slack.com/services/T000/B000/XXXX"])
        #expect(status == 64, "\(output)")
        #expect(output.contains("--notify-slack takes env:NAME or file:PATH, naming where the URL is kept; a URL on the command line shows in ps"))
        let (unset, unsetOutput) = try await gantry(["controller", "--repo", repositoryRoot, "--state-dir", state, "--iterations", "1",
                                                     "--notify", "env:GANTRY_TEST_NO_SUCH_HOOK"])
        #expect(unset == 64)
        #expect(unsetOutput.contains("--notify env:GANTRY_TEST_NO_SUCH_HOOK: environment variable GANTRY_TEST_NO_SUCH_HOOK is not set"), "\(unsetOutput)")
        #expect(!FileManager.default.fileExists(atPath: state + "/state.db"), "nothing started")
    }

    @Test func helpShowsAnExampleForEveryVerb() async throws {
        for verb in ["validate", "plan", "apply", "controller", "status", "history", "versions", "lineage", "schema", "diff", "reproduce", "rollback", "destroy"] {
            let (status, output) = try await gantry([verb, "--help"])
            #expect(status == 0)
            #expect(output.contains("Examples:\n  gantry \(verb)"), "\(verb) --help has an example")
        }
        for verb in [["data", "status"], ["data", "fingerprint"], ["pr", "comment"]] {
            let (status, output) = try await gantry(verb + ["--help"])
            #expect(status == 0)
            #expect(output.contains("Examples:\n  gantry \(verb.joined(separator: " "))"), "\(verb) --help has an example")
        }
        let (_, version) = try await gantry(["--version"])
        #expect(version == "0.1.0\n")
        let (_, completion) = try await gantry(["--generate-completion-script", "bash"])
        #expect(completion.contains("_gantry"))
    }

    /// libgit2 is loaded by the first Git operation, not when a process
    /// starts. Where it cannot be loaded, a command that reads the
    /// repository says so, naming the library, and changes nothing; one
    /// that does not read it is unaffected.
    @Test func withoutLibgit2OnlyGitFailsAndTheErrorNamesTheLibrary() async throws {
        let libraries = tempDir()
        #expect(FileManager.default.createFile(atPath: libraries + "/libgit2.so.1.5", contents: Data("not a library".utf8)))
        let broken = ["LD_LIBRARY_PATH": libraries]
        let state = tempDir() + "/state"
        let (planned, output) = try await gantry(["plan", "--repo", repositoryRoot, "--path", "examples/quickstart", "--state-dir", state], env: broken)
        #expect(planned == 1)
        #expect(output.contains("error: load libgit2: cannot load libgit2.so.1.5"), "\(output)")
        #expect(!output.contains("not a Git repository"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: state + "/state.db"))
        let (validated, _) = try await gantry(["validate", repositoryRoot + "/examples/quickstart"], env: broken)
        #expect(validated == 0)
        let (version, printed) = try await gantry(["--version"], env: broken)
        #expect(version == 0 && printed == "0.1.0\n")
    }

    /// `data status` opens an existing store before reading the revision,
    /// but makes a new one only after: a repository that cannot be read
    /// leaves no state directory behind.
    @Test func dataStatusOnABadRepositoryLeavesNoStateBehind() async throws {
        let state = tempDir() + "/state"
        let (status, output) = try await gantry(["data", "status", "--repo", "/nonexistent/models", "--state-dir", state])
        #expect(status == 1)
        #expect(output.contains("/nonexistent/models: not a Git repository"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: state))
    }

    /// Run again on a local repository whose ref has not moved, `data
    /// status` answers from the manifests it kept last time and does not
    /// load libgit2, so it works with libgit2 broken; once the branch moves
    /// it reads Git again (failing without libgit2) and sees the new commit.
    @Test func dataStatusOnAnUnmovedRefReadsNoGit() async throws {
        let repo = tempDir(), data = tempDir()
        try "a,b\n1,2\n".write(toFile: data + "/rows.csv", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: repo + "/gantry", withIntermediateDirectories: true)
        func dataset(_ name: String, _ path: String) -> String {
            "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata: { name: \(name) }\nspec:\n  source: { path: \"\(path)\" }\n"
        }
        try dataset("rows", data).write(toFile: repo + "/gantry/rows.yaml", atomically: true, encoding: .utf8)
        let env = ["GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com", "GIT_COMMITTER_NAME": "Ada",
                   "GIT_COMMITTER_EMAIL": "ada@example.com", "GIT_CONFIG_NOSYSTEM": "1"]
        func commit(_ message: String) async throws {
            for argv in [["git", "add", "-A"], ["git", "commit", "-qm", message]] {
                let r = try await Processes.run(ProcessSpec(argv: argv, environment: ProcessInfo.processInfo.environment.merging(env) { $1 },
                                                            workingDirectory: repo, logPath: repo + "/../git-\(getpid()).log"), timeout: .seconds(60))
                #expect(r.status.succeeded)
            }
        }
        _ = try await Processes.run(ProcessSpec(argv: ["git", "init", "-q", "-b", "main", repo], environment: ProcessInfo.processInfo.environment,
                                                logPath: repo + "/../git-\(getpid()).log"), timeout: .seconds(60))
        try await commit("One dataset")
        let libraries = tempDir()
        #expect(FileManager.default.createFile(atPath: libraries + "/libgit2.so.1.5", contents: Data("not a library".utf8)))
        let broken = ["LD_LIBRARY_PATH": libraries]
        let state = tempDir() + "/state"
        let status = ["data", "status", "-o", "json", "--repo", repo, "--path", "gantry", "--state-dir=" + state]
        func fingerprints(_ output: String) throws -> [String: String] {
            let rows = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]] ?? []
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["dataset"] as! String, $0["fingerprint"] as? String ?? "") })
        }

        let (first, read) = try await gantry(status)
        #expect(first == 0, "\(read)")
        // The next run lists the data's directory as it starts (`DirectoryPrefetch`).
        #expect((try? String(contentsOfFile: state + "/data-status-listed", encoding: .utf8)) == data + "\n")
        let (again, kept) = try await gantry(status, env: broken)
        #expect(again == 0, "\(kept)")
        let before = try fingerprints(read)
        #expect(try fingerprints(kept) == before)
        // The data is still fingerprinted afresh.
        try "a,b\n1,3\n".write(toFile: data + "/rows.csv", atomically: true, encoding: .utf8)
        let (_, changed) = try await gantry(status, env: broken)
        #expect(try fingerprints(changed)["rows"] != before["rows"], "\(changed)")

        try dataset("more", data).write(toFile: repo + "/gantry/more.yaml", atomically: true, encoding: .utf8)
        try await commit("A second dataset")
        let (moved, failure) = try await gantry(status, env: broken)
        #expect(moved == 1)
        #expect(failure.contains("load libgit2"), "\(failure)")
        let (_, fetched) = try await gantry(status)
        #expect(try fingerprints(fetched).keys.sorted() == ["more", "rows"], "\(fetched)")
        let (_, keptAgain) = try await gantry(status, env: broken)
        #expect(try fingerprints(keptAgain).keys.sorted() == ["more", "rows"], "\(keptAgain)")

        // A Dataset kept in Git itself needs the revision, and so libgit2.
        try "x\n".write(toFile: repo + "/gantry/inside.csv", atomically: true, encoding: .utf8)
        try dataset("inside", "inside.csv").write(toFile: repo + "/gantry/inside.yaml", atomically: true, encoding: .utf8)
        try await commit("A dataset in Git")
        let (inGit, listed) = try await gantry(status)
        let inside = try fingerprints(listed)["inside"] ?? ""
        #expect(inGit == 0 && inside.hasPrefix("git:"), "\(listed)")
        let (needsGit, _) = try await gantry(status, env: broken)
        #expect(needsGit == 1)
    }

    /// libgit2 starts initialising on a thread of its own as the process
    /// starts. A command done before that finishes used to exit under it,
    /// and OpenSSL's exit handler pulled its locks away: one `--version` in
    /// thirty died of SIGSEGV. Every run must now exit cleanly. (The debug
    /// build parses more slowly, so fewer of its runs end inside that
    /// window: about one in a hundred did, hence the number of runs.)
    @Test func aCommandThatEndsBeforeLibgit2IsReadyStillExitsCleanly() async throws {
        for _ in 0..<300 {
            let (status, output) = try await gantry(["--version"])
            // The version is flushed however the process ends.
            #expect(status == 0 && output == "0.1.0\n", "gantry --version: \(status) \(output)")
            if status != 0 { break }
        }
        // A usage error ends the same way, with ArgumentParser's message and code.
        let (status, output) = try await gantry(["--no-such-flag"])
        #expect(status == 64)
        #expect(output.contains("Error: Unknown option '--no-such-flag'"), "\(output)")
    }

    /// libcurl is loaded by the first HTTP request. Where it cannot be
    /// loaded (here a broken file first on the library path), a command
    /// that needs HTTP says so, and one that does not is unaffected.
    @Test func withoutLibcurlOnlyHTTPFailsAndTheErrorNamesTheLibrary() async throws {
        let repo = tempDir()
        try FileManager.default.createDirectory(atPath: repo + "/gantry", withIntermediateDirectories: true)
        try """
        apiVersion: gantry.dev/v1alpha1
        kind: Dataset
        metadata: { name: remote }
        spec:
          source: { url: "http://127.0.0.1:9/rows.csv" }
        """.write(toFile: repo + "/gantry/data.yaml", atomically: true, encoding: .utf8)
        let env = ["GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com", "GIT_COMMITTER_NAME": "Ada",
                   "GIT_COMMITTER_EMAIL": "ada@example.com", "GIT_CONFIG_NOSYSTEM": "1"]
        for argv in [["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-qm", "A remote dataset"]] {
            let r = try await Processes.run(ProcessSpec(argv: argv, environment: ProcessInfo.processInfo.environment.merging(env) { $1 },
                                                        workingDirectory: repo, logPath: repo + "/../git-\(getpid()).log"), timeout: .seconds(60))
            #expect(r.status.succeeded)
        }
        let libraries = tempDir()
        #expect(FileManager.default.createFile(atPath: libraries + "/libcurl.so.4", contents: Data("not a library".utf8)))
        let broken = ["LD_LIBRARY_PATH": libraries]
        let status = ["data", "status", "--repo", repo, "--path", "gantry", "--state-dir", tempDir()]

        let (failed, output) = try await gantry(status, env: broken)
        #expect(failed == 1)
        #expect(output.contains("remote: error:") && output.contains("cannot load libcurl.so.4"), "\(output)")
        let (validated, _) = try await gantry(["validate", repo + "/gantry"], env: broken)
        #expect(validated == 0)
        // With libcurl the same request gets as far as the network.
        let (_, reached) = try await gantry(status)
        #expect(reached.contains("remote: error:") && !reached.contains("cannot load"), "\(reached)")
    }
}
