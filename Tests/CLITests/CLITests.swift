import Foundation
import GantryTestSupport
import Testing

@Suite struct CLITests {
    @Test func validateAcceptsTheQuickstartAndExitsZero() async throws {
        let result = try await gantry(["validate", packageRoot + "/examples/quickstart"])
        #expect(result.code == 0)
        #expect(result.output == "valid: 4 objects in 4 files (1 Dataset, 1 Pipeline, 1 Model, 1 Deployment)\n")
    }

    @Test func validateAcceptsTheRolloutExampleOverTheQuickstart() async throws {
        let dir = makeTemporaryDirectory("gantry-cli")
        try FileManager.default.copyItem(atPath: packageRoot + "/examples/quickstart/manifests", toPath: dir + "/manifests")
        for file in ["deployment.yaml", "targets.yaml"] {
            try? FileManager.default.removeItem(atPath: dir + "/manifests/" + file)
            try FileManager.default.copyItem(atPath: packageRoot + "/examples/rollout/" + file, toPath: dir + "/manifests/" + file)
        }
        let result = try await gantry(["validate", dir])
        #expect(result.code == 0, "\(result.output)")
        #expect(result.output == "valid: 6 objects in 5 files (2 Target, 1 Dataset, 1 Pipeline, 1 Model, 1 Deployment)\n")
    }

    @Test func rolloutStatusShowsEachTargetAndExitsTwoUntilEveryTargetServes() async throws {
        let state = makeTemporaryDirectory("gantry-cli") + "/s"
        let source = ["--repo", packageRoot, "--path", "examples/quickstart", "--state-dir", state]
        let before = try await gantry(["rollout", "status", "churn-prod"] + source)
        #expect(before.code == 2, "\(before.output)")
        #expect(before.output.contains("not deployed") && before.output.contains("0 of 1 targets serve v1."), "\(before.output)")
        // status --watch prints again when the apply changes what serves.
        let watcher = try PipedGantry(["status", "--watch", "--interval", "0.2", "--state-dir", state])
        defer { watcher.terminate() }
        try await eventually("the first status") { watcher.output.contains("No state in ") }
        let applied = try await gantry(["apply"] + source, timeout: .seconds(300))
        defer { Task { _ = try? await gantry(["destroy", "--state-dir", state], timeout: .seconds(60)) } }
        #expect(applied.code == 0, "\(applied.output)")
        try await eventually("the watch shows the deployment", timeout: .seconds(30)) {
            watcher.output.contains("\n--- ") && watcher.output.contains("churn-prod") && watcher.output.contains("churn@v1")
        }
        watcher.terminate()
        let after = try await gantry(["rollout", "status", "churn-prod"] + source)
        #expect(after.code == 0, "\(after.output)")
        #expect(after.output.contains("Done: every target serves v1."), "\(after.output)")
        let json = try await gantry(["rollout", "status", "churn-prod", "-o", "json"] + source)
        let report = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        #expect(report?["state"] as? String == "done")
        let targets = report?["targets"] as? [[String: Any]]
        #expect(targets?.map { $0["target"] as? String } == ["local"] && targets?.first?["version"] as? Int == 1)
        // Times in `-o json` are ISO-8601 UTC, not seconds since 2001.
        let iso = #/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/#
        #expect((targets?.first?["since"] as? String).map { $0.wholeMatch(of: iso) != nil } == true, "\(json.output)")
        let status = try await gantry(["status", "-o", "json", "--state-dir", state])
        let deployments = (try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any])?["deployments"] as? [[String: Any]]
        #expect((deployments?.first?["updatedAt"] as? String).map { $0.wholeMatch(of: iso) != nil } == true, "\(status.output)")

        // Every read command's -o json parses, with ISO-8601 times and the
        // store's JSON columns as objects, not as strings holding JSON.
        let repo = ["--repo", packageRoot, "--path", "examples/quickstart"]
        let reads: [[String]] = [
            ["status"], ["history"], ["history", "--audit"], ["versions", "churn"], ["lineage", "churn@1"],
            ["rollout", "status", "churn-prod"] + repo, ["plan"] + repo, ["diff", "churn-prod"] + repo, ["validate", packageRoot + "/examples/quickstart"],
        ]
        for read in reads {
            let state = read.first == "validate" ? [] : ["--state-dir", state]
            let out = try await gantry(read + state + ["-o", "json"])
            guard let tree = try? JSONSerialization.jsonObject(with: Data(out.output.utf8)) else {
                Issue.record("\(read.joined(separator: " ")) -o json does not parse: \(out.output)")
                continue
            }
            for problem in Self.outputProblems(tree, at: read.joined(separator: " ")) { Issue.record("\(problem)") }
            let yaml = try await gantry(read + state + ["-o", "yaml"])
            #expect(!yaml.output.hasPrefix("{") && !yaml.output.hasPrefix("["), "\(read): -o yaml is YAML: \(yaml.output.prefix(200))")
        }
        let versions = try await gantry(["versions", "churn", "--state-dir", state, "-o", "yaml"]).output
        #expect(versions.contains("\n  metrics:\n    accuracy: 0.85\n") && versions.contains("\n  gatesPassed: true\n"), "\(versions)")
        let empty = try await gantry(["status", "-o", "json", "--state-dir", makeTemporaryDirectory("gantry-none") + "/s"])
        #expect((try? JSONSerialization.jsonObject(with: Data(empty.output.utf8))) != nil, "no state is still JSON: \(empty.output)")

        // On a terminal, destroy asks first, and only "yes" goes on.
        let declined = try await onTerminal(["destroy", "--state-dir", state], answer: "y")
        #expect(declined.code == 1, "\(declined.output)")
        #expect(
            declined.output.contains("gantry destroy will stop:") && declined.output.contains("Deployment/churn-prod on local (churn@v1 at "),
            "\(declined.output)")
        #expect(declined.output.contains("Destroy cancelled; nothing was stopped."), "\(declined.output)")
        #expect(try await gantry(["rollout", "status", "churn-prod"] + source).code == 0, "still serving")
        let confirmed = try await onTerminal(["destroy", "--state-dir", state], answer: "yes")
        #expect(confirmed.code == 0 && confirmed.output.contains("stopped Deployment/churn-prod"), "\(confirmed.output)")
        #expect(try await gantry(["rollout", "status", "churn-prod"] + source).code == 2, "stopped")
    }

    /// What is wrong with `-o json` output: a time that is not ISO-8601, a
    /// JSON column left as a string.
    static func outputProblems(_ value: Any, at path: String) -> [String] {
        if let array = value as? [Any] {
            return array.enumerated().flatMap { outputProblems($1, at: "\(path)[\($0)]") }
        }
        guard let object = value as? [String: Any] else { return [] }
        var problems: [String] = []
        let iso = #/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/#
        for (key, field) in object {
            if key.hasSuffix("At") || key == "time" || key == "since" {
                if !(field is NSNull), (field as? String)?.wholeMatch(of: iso) == nil {
                    problems.append("\(path).\(key) is not an ISO-8601 time: \(field)")
                }
            }
            if let text = field as? String, text.hasPrefix("{") || text.hasPrefix("["),
                (try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil
            {
                problems.append("\(path).\(key) holds JSON in a string: \(text.prefix(80))")
            }
            problems += outputProblems(field, at: "\(path).\(key)")
        }
        return problems
    }

    /// Runs gantry on a pseudo-terminal, typing `answer` at its question.
    func onTerminal(_ arguments: [String], answer: String) async throws -> CommandResult {
        let script = """
            import os, pty, select, sys
            answer, argv = sys.argv[1], sys.argv[2:]
            pid, fd = pty.fork()
            if pid == 0:
                os.execv(argv[0], argv)
            out, answered = b"", False
            while True:
                ready, _, _ = select.select([fd], [], [], 60)
                if not ready:
                    break
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
                if not answered and b"goes on: " in out:
                    os.write(fd, answer.encode() + b"\\n")
                    answered = True
            _, status = os.waitpid(pid, 0)
            sys.stdout.write(out.decode(errors="replace"))
            sys.exit(os.waitstatus_to_exitcode(status))
            """
        return try await runCommand(["python3", "-c", script, answer, gantryExecutable] + arguments, timeout: .seconds(90))
    }

    @Test func validateListsEveryProblemAndExitsOne() async throws {
        let dir = makeTemporaryDirectory("gantry-cli")
        try FileManager.default.copyItem(atPath: packageRoot + "/examples/quickstart/manifests", toPath: dir + "/manifests")
        let model = try String(contentsOfFile: dir + "/manifests/model.yaml", encoding: .utf8)
        try model.replacingOccurrences(of: "pipeline: churn-training", with: "pipeline: churn-train")
            .replacingOccurrences(of: "target: local", with: "target: gpu")
            .write(toFile: dir + "/manifests/model.yaml", atomically: true, encoding: .utf8)
        let result = try await gantry(["validate", dir])
        #expect(result.code == 1)
        #expect(
            result.output.contains("manifests/model.yaml:8:13: error: spec.pipeline: no Pipeline named \"churn-train\" (did you mean \"churn-training\"?)\n"))
        #expect(result.output.contains("manifests/model.yaml:10:11: error: spec.target: no Target named \"gpu\""))
        #expect(result.output.hasSuffix("2 errors in 1 of 4 files\n"))

        let json = try await gantry(["validate", "-o", "json", dir])
        #expect(json.code == 1)
        let report = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        #expect(report?["valid"] as? Bool == false)
        let diagnostics = report?["diagnostics"] as? [[String: Any]]
        #expect(diagnostics?.first?["line"] as? Int == 8)
        #expect(diagnostics?.first?["field"] as? String == "spec.pipeline")
    }

    @Test func validateOnAMissingDirectoryExitsTwo() async throws {
        let result = try await gantry(["validate", "/nonexistent/gantry"])
        #expect(result.code == 2)
        #expect(result.output.contains("/nonexistent/gantry: error: no such directory"))
    }

    @Test func planExitCodesTellChangesPendingAndRenderAsJSONAndMarkdown() async throws {
        let state = makeTemporaryDirectory("gantry-cli")
        let result = try await gantry(["plan", "--repo", packageRoot, "--path", "examples/quickstart", "--state-dir", state + "/s"])
        #expect(result.code == 2, "changes pending: \(result.output)")
        #expect(result.output.contains("train Model/churn -> v1: no version yet"))
        #expect(!FileManager.default.fileExists(atPath: state + "/s"), "plan creates no state")

        let json = try await gantry(["plan", "-o", "json", "--repo", packageRoot, "--path", "examples/quickstart", "--state-dir", state + "/s"]).output
        let plan = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let actions = plan?["actions"] as? [[String: Any]]
        #expect(actions?.map { $0["kind"] as? String } == ["train", "deploy"])

        let markdown = try await gantry(["plan", "-o", "markdown", "--repo", packageRoot, "--path", "examples/quickstart", "--state-dir", state + "/s"]).output
        #expect(markdown.contains("| train | `Model/churn` | v1 | no version yet |"))
    }

    @Test func aNotificationURLIsNamedNotWrittenOnTheCommandLine() async throws {
        let state = makeTemporaryDirectory("gantry-cli")
        let result = try await gantry([
            "controller", "--repo", packageRoot, "--path", "examples/quickstart", "--state-dir", state,
            "--iterations", "1", "--notify-slack", "https://hooks.slack.com/services/T000/B000/XXXX",
        ])
        #expect(result.code == 64, "\(result.output)")
        #expect(result.output.contains("--notify-slack takes env:NAME or file:PATH, naming where the URL is kept; a URL on the command line shows in ps"))
        let unset = try await gantry([
            "controller", "--repo", packageRoot, "--state-dir", state, "--iterations", "1",
            "--notify", "env:GANTRY_TEST_NO_SUCH_HOOK",
        ])
        #expect(unset.code == 64)
        #expect(unset.output.contains("--notify env:GANTRY_TEST_NO_SUCH_HOOK: environment variable GANTRY_TEST_NO_SUCH_HOOK is not set"), "\(unset.output)")
        #expect(!FileManager.default.fileExists(atPath: state + "/state.db"), "nothing started")
    }

    @Test func aWebURLMustBeARepositoryPageAndNeedsTheDashboard() async throws {
        let state = makeTemporaryDirectory("gantry-cli")
        let base = ["controller", "--repo", packageRoot, "--path", "examples/quickstart", "--state-dir", state, "--iterations", "1"]
        let notURL = try await gantry(base + ["--listen", "127.0.0.1:0", "--web-url", "github.com/ml/models"])
        #expect(notURL.code == 64 && notURL.output.contains("--web-url github.com/ml/models: the repository's page"), "\(notURL.output)")
        let noListen = try await gantry(base + ["--web-url", "https://github.com/ml/models"])
        #expect(noListen.code == 64 && noListen.output.contains("--web-url is for the dashboard's links: it needs --listen"), "\(noListen.output)")
        #expect(!FileManager.default.fileExists(atPath: state + "/gantry.sqlite"), "nothing started")
    }

    @Test func helpShowsAnExampleForEveryVerb() async throws {
        for verb in [
            "validate", "plan", "apply", "controller", "status", "history", "versions", "lineage", "schema", "diff", "reproduce", "rollback", "destroy",
        ] {
            let result = try await gantry([verb, "--help"])
            #expect(result.code == 0)
            #expect(result.output.contains("Examples:\n  gantry \(verb)"), "\(verb) --help has an example")
        }
        for verb in [["data", "status"], ["data", "fingerprint"], ["pr", "comment"]] {
            let result = try await gantry(verb + ["--help"])
            #expect(result.code == 0)
            #expect(result.output.contains("Examples:\n  gantry \(verb.joined(separator: " "))"), "\(verb) --help has an example")
        }
        let version = try await gantry(["--version"]).output
        #expect(version == "0.1.0\n")
        let completion = try await gantry(["--generate-completion-script", "bash"]).output
        #expect(completion.contains("_gantry"))
    }

    /// libgit2 is loaded by the first Git operation, not when a process
    /// starts. Where it cannot be loaded, a command that reads the
    /// repository says so, naming the library, and changes nothing; one
    /// that does not read it is unaffected.
    @Test func withoutLibgit2OnlyGitFailsAndTheErrorNamesTheLibrary() async throws {
        let libraries = makeTemporaryDirectory("gantry-cli")
        #expect(FileManager.default.createFile(atPath: libraries + "/libgit2.so.1.5", contents: Data("not a library".utf8)))
        let broken = testEnvironment(["LD_LIBRARY_PATH": libraries])
        let state = makeTemporaryDirectory("gantry-cli") + "/state"
        let planned = try await gantry(["plan", "--repo", packageRoot, "--path", "examples/quickstart", "--state-dir", state], environment: broken)
        #expect(planned.code == 1)
        #expect(planned.output.contains("error: load libgit2: cannot load libgit2.so.1.5"), "\(planned.output)")
        #expect(!planned.output.contains("not a Git repository"), "\(planned.output)")
        #expect(!FileManager.default.fileExists(atPath: state + "/state.db"))
        let validated = try await gantry(["validate", packageRoot + "/examples/quickstart"], environment: broken).code
        #expect(validated == 0)
        let version = try await gantry(["--version"], environment: broken)
        #expect(version.code == 0 && version.output == "0.1.0\n")
    }

    /// `data status` opens an existing store before reading the revision,
    /// but makes a new one only after: a repository that cannot be read
    /// leaves no state directory behind.
    @Test func dataStatusOnABadRepositoryLeavesNoStateBehind() async throws {
        let state = makeTemporaryDirectory("gantry-cli") + "/state"
        let result = try await gantry(["data", "status", "--repo", "/nonexistent/models", "--state-dir", state])
        #expect(result.code == 1)
        #expect(result.output.contains("/nonexistent/models: not a Git repository"), "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: state))
    }

    /// Run again on a local repository whose ref has not moved, `data
    /// status` answers from the manifests it kept last time and does not
    /// load libgit2, so it works with libgit2 broken; once the branch moves
    /// it reads Git again (failing without libgit2) and sees the new commit.
    @Test func dataStatusOnAnUnmovedRefReadsNoGit() async throws {
        let project = try await ProjectRepository("gantry-cli")
        let repo = project.directory
        let data = makeTemporaryDirectory("gantry-cli")
        try "a,b\n1,2\n".write(toFile: data + "/rows.csv", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: repo + "/gantry", withIntermediateDirectories: true)
        func dataset(_ name: String, _ path: String) -> String {
            "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata: { name: \(name) }\nspec:\n  source: { path: \"\(path)\" }\n"
        }
        try dataset("rows", data).write(toFile: repo + "/gantry/rows.yaml", atomically: true, encoding: .utf8)
        try await project.commit("One dataset")
        let libraries = makeTemporaryDirectory("gantry-cli")
        #expect(FileManager.default.createFile(atPath: libraries + "/libgit2.so.1.5", contents: Data("not a library".utf8)))
        let broken = testEnvironment(["LD_LIBRARY_PATH": libraries])
        let state = makeTemporaryDirectory("gantry-cli") + "/state"
        let status = ["data", "status", "-o", "json", "--repo", repo, "--path", "gantry", "--state-dir=" + state]
        func fingerprints(_ output: String) throws -> [String: String] {
            let rows = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]] ?? []
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["dataset"] as! String, $0["fingerprint"] as? String ?? "") })
        }

        let first = try await gantry(status)
        #expect(first.code == 0, "\(first.output)")
        // The next run lists the data's directory as it starts (`DirectoryPrefetch`).
        #expect((try? String(contentsOfFile: state + "/data-status-listed", encoding: .utf8)) == data + "\n")
        let again = try await gantry(status, environment: broken)
        #expect(again.code == 0, "\(again.output)")
        let before = try fingerprints(first.output)
        #expect(try fingerprints(again.output) == before)
        // The data is still fingerprinted afresh.
        try "a,b\n1,3\n".write(toFile: data + "/rows.csv", atomically: true, encoding: .utf8)
        let changed = try await gantry(status, environment: broken).output
        #expect(try fingerprints(changed)["rows"] != before["rows"], "\(changed)")

        try dataset("more", data).write(toFile: repo + "/gantry/more.yaml", atomically: true, encoding: .utf8)
        try await project.commit("A second dataset")
        let moved = try await gantry(status, environment: broken)
        #expect(moved.code == 1)
        #expect(moved.output.contains("load libgit2"), "\(moved.output)")
        let fetched = try await gantry(status).output
        #expect(try fingerprints(fetched).keys.sorted() == ["more", "rows"], "\(fetched)")
        let keptAgain = try await gantry(status, environment: broken).output
        #expect(try fingerprints(keptAgain).keys.sorted() == ["more", "rows"], "\(keptAgain)")

        // A Dataset kept in Git itself needs the revision, and so libgit2.
        try "x\n".write(toFile: repo + "/gantry/inside.csv", atomically: true, encoding: .utf8)
        try dataset("inside", "inside.csv").write(toFile: repo + "/gantry/inside.yaml", atomically: true, encoding: .utf8)
        try await project.commit("A dataset in Git")
        let inGit = try await gantry(status)
        let inside = try fingerprints(inGit.output)["inside"] ?? ""
        #expect(inGit.code == 0 && inside.hasPrefix("git:"), "\(inGit.output)")
        let needsGit = try await gantry(status, environment: broken).code
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
            let result = try await gantry(["--version"])
            // The version is flushed however the process ends.
            #expect(result.code == 0 && result.output == "0.1.0\n", "gantry --version: \(result.code) \(result.output)")
            if result.code != 0 { break }
        }
        // A usage error ends the same way, with ArgumentParser's message and code.
        let result = try await gantry(["--no-such-flag"])
        #expect(result.code == 64)
        #expect(result.output.contains("Error: Unknown option '--no-such-flag'"), "\(result.output)")
    }

    /// libcurl is loaded by the first HTTP request. Where it cannot be
    /// loaded (here a broken file first on the library path), a command
    /// that needs HTTP says so, and one that does not is unaffected.
    @Test func withoutLibcurlOnlyHTTPFailsAndTheErrorNamesTheLibrary() async throws {
        let project = try await ProjectRepository("gantry-cli")
        let repo = project.directory
        try FileManager.default.createDirectory(atPath: repo + "/gantry", withIntermediateDirectories: true)
        try """
        apiVersion: gantry.dev/v1alpha1
        kind: Dataset
        metadata: { name: remote }
        spec:
          source: { url: "http://127.0.0.1:9/rows.csv" }
        """.write(toFile: repo + "/gantry/data.yaml", atomically: true, encoding: .utf8)
        try await project.commit("A remote dataset")
        let libraries = makeTemporaryDirectory("gantry-cli")
        #expect(FileManager.default.createFile(atPath: libraries + "/libcurl.so.4", contents: Data("not a library".utf8)))
        let broken = testEnvironment(["LD_LIBRARY_PATH": libraries])
        let status = ["data", "status", "--repo", repo, "--path", "gantry", "--state-dir", makeTemporaryDirectory("gantry-cli")]

        let failed = try await gantry(status, environment: broken)
        #expect(failed.code == 1)
        #expect(failed.output.contains("remote: error:") && failed.output.contains("cannot load libcurl.so.4"), "\(failed.output)")
        let validated = try await gantry(["validate", repo + "/gantry"], environment: broken).code
        #expect(validated == 0)
        // With libcurl the same request gets as far as the network.
        let reached = try await gantry(status).output
        #expect(reached.contains("remote: error:") && !reached.contains("cannot load"), "\(reached)")
    }
}
