import Foundation
import GantryTestSupport
import HTTP
import Processes
import State
import Synchronization
import Testing

private func scratch(_ name: String) -> String { makeTemporaryDirectory("gantry-e2e-\(name)") }

/// Runs gantry as Ada would from a shell in `repo`: her Git identity is the
/// one its write-backs and her own commits carry.
private func gantryAsAda(_ arguments: [String], in repo: String) async throws -> CommandResult {
    try await gantry(arguments, in: repo, environment: gitEnvironment(author: "Ada"), timeout: .seconds(300))
}

private func edit(_ path: String, _ change: (String) -> String) throws {
    try change(try String(contentsOfFile: path, encoding: .utf8)).write(toFile: path, atomically: true, encoding: .utf8)
}

private func predict(port: Int) async throws -> HTTPResponse {
    let body = #"{"instances": [{"tenure_months": 2, "monthly_charges": 99.5, "support_calls": 4, "contract_annual": 0}]}"#
    return try await HTTPClient.shared.send(
        HTTPRequest(
            method: "POST", url: "http://127.0.0.1:\(port)/predict",
            headers: [("Content-Type", "application/json")], body: Array(body.utf8), timeout: .seconds(5)))
}

/// Answered and failed requests, counted by one task and read by another.
private final class Tally: Sendable {
    private let counts = Mutex((ok: 0, failed: 0))
    func count(ok: Bool) { counts.withLock { if ok { $0.ok += 1 } else { $0.failed += 1 } } }
    var now: (ok: Int, failed: Int) { counts.withLock { $0 } }
}

@Suite(.serialized, .timeLimit(.minutes(5)))
struct EndToEndTests {
    /// The quickstart as a user lives it, through the CLI.
    @Test func quickstartTrainsServesRetrainsSwitchesAndPinsBack() async throws {
        let repo = scratch("repo")
        try FileManager.default.removeItem(atPath: repo)
        try FileManager.default.copyItem(atPath: packageRoot + "/examples/quickstart", toPath: repo)
        let port = freePort()
        try edit(repo + "/manifests/deployment.yaml") { $0.replacingOccurrences(of: "127.0.0.1:8700", with: "127.0.0.1:\(port)") }
        try await git(["init", "-q", "-b", "main"], in: repo, author: "Ada")
        try await git(["add", "-A"], in: repo, author: "Ada")
        try await git(["commit", "-qm", "Quickstart"], in: repo, author: "Ada")
        let state = scratch("state")
        let gantry = { (args: [String]) in try await gantryAsAda(args + ["--state-dir", state], in: repo) }
        defer { Task { _ = try? await gantryAsAda(["destroy", "--state-dir", state], in: repo) } }

        let applied = try await gantry(["apply", "--repo", repo])
        #expect(applied.code == 0, "\(applied.output)")
        let first = try await predict(port: port)
        #expect(first.status == 200)
        #expect(first.text.contains("churn_probability"))

        // A params change and the pin to the version it will produce.
        try edit(repo + "/manifests/model.yaml") { $0.replacingOccurrences(of: "epochs: 300", with: "epochs: 400") }
        try edit(repo + "/manifests/deployment.yaml") { $0.replacingOccurrences(of: "version: 1", with: "version: 2") }
        try await git(["commit", "-qam", "Train longer and ship it"], in: repo, author: "Ada")
        let planned = try await gantry(["plan", "--repo", repo])
        #expect(planned.code == 2)
        #expect(planned.output.contains("train Model/churn -> v2: param epochs changed (300 -> 400) since v1"))
        #expect(planned.output.contains("deploy Deployment/churn-prod churn@v1 -> v2: pinned 2, serving 1"))

        // Predictions run throughout the rollout and on until the new server
        // has answered a few, however slowly a loaded machine answers them.
        // The load runs on a thread of its own with blocking requests: other
        // suites running beside this one may keep the two-thread concurrency
        // pool busy, and a task there could go unscheduled for the whole
        // rollout.
        let tally = Tally()
        let stop = Atomic<Bool>(false)
        let loadEnded = Atomic<Bool>(false)
        let body = #"{"instances": [{"tenure_months": 2, "monthly_charges": 99.5, "support_calls": 4, "contract_annual": 0}]}"#
        Thread.detachNewThread {
            while !stop.load(ordering: .relaxed) {
                let r = try? HTTPClient.shared.perform(
                    HTTPRequest(
                        method: "POST", url: "http://127.0.0.1:\(port)/predict",
                        headers: [("Content-Type", "application/json")],
                        body: Array(body.utf8), timeout: .seconds(5)))
                tally.count(ok: r?.status == 200)
            }
            loadEnded.store(true, ordering: .relaxed)
        }
        let second = try await gantry(["apply", "--repo", repo])
        let duringRollout = tally.now
        let deadline = ContinuousClock.now + .seconds(60)
        while tally.now.ok < duringRollout.ok + 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        stop.store(true, ordering: .relaxed)
        while !loadEnded.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(10)) }
        let (ok, failed) = tally.now
        #expect(second.code == 0, "\(second.output)")
        #expect(failed == 0, "\(failed) of \(ok + failed) predictions failed during the rollout")
        #expect(duringRollout.ok > 0, "no prediction was answered while the rollout ran")
        #expect(ok >= duringRollout.ok + 3, "the new version answered \(ok - duringRollout.ok) predictions after the rollout")

        let store = try StateStore(directory: state)
        let versions = try store.versions(of: "churn")
        #expect(versions.map(\.number) == [1, 2])
        let health = try await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:\(port)/health")).text
        #expect(health.contains(String(versions[1].artifactDigest.dropFirst(7).prefix(12))))

        // Pinning back to v1 serves it again without training anything.
        try edit(repo + "/manifests/deployment.yaml") { $0.replacingOccurrences(of: "version: 2", with: "version: 1") }
        try await git(["commit", "-qam", "Roll back to v1"], in: repo, author: "Ada")
        let back = try await gantry(["apply", "--repo", repo]).output
        #expect(back.contains("1 action:\n  deploy Deployment/churn-prod churn@v2 -> v1: pinned 1, serving 2"))
        #expect(try store.versions(of: "churn").count == 2)
        let healthBack = try await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:\(port)/health")).text
        #expect(healthBack.contains(String(versions[0].artifactDigest.dropFirst(7).prefix(12))))
        let lineage = try await gantry(["lineage", "churn@2"]).output
        #expect(lineage.contains("param       epochs = 400"))
        #expect(lineage.contains("parent      v1: param epochs changed (300 -> 400)"))

        // What happened, as the read commands tell it.
        let history = try await gantry(["history"])
        #expect(history.code == 0, "\(history.output)")
        let rows = history.output.split(separator: "\n").dropFirst().map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(rows.map { $0[3] } == ["applied", "applied", "applied"], "newest first, each applied: \(history.output)")
        #expect(rows.map { $0[4] } == ["1", "2", "2"], "actions of each reconcile, newest first: \(history.output)")
        #expect(
            history.output.contains("Ada <ada@example.com>: Roll back to v1") && history.output.contains("Ada <ada@example.com>: Quickstart"),
            "\(history.output)")

        let versionList = try await gantry(["versions", "churn"])
        #expect(versionList.code == 0)
        let versionRows = versionList.output.split(separator: "\n").dropFirst()
        #expect(versionRows.map { $0.split(separator: " ").first } == ["v1", "v2"], "\(versionList.output)")
        #expect(versionRows.allSatisfy { $0.contains(" pass ") && $0.contains("accuracy=") }, "\(versionList.output)")
        let versionsJSON = try await gantry(["versions", "churn", "-o", "json"]).output
        let listed = try #require(try JSONSerialization.jsonObject(with: Data(versionsJSON.utf8)) as? [[String: Any]])
        #expect(listed.map { $0["number"] as? Int } == [1, 2])

        let inSync = try await gantry(["diff", "churn-prod", "--repo", repo])
        #expect(inSync.code == 0, "serving what Git pins: \(inSync.output)")
        #expect(inSync.output.contains("  version") && !inSync.output.contains("! "), "\(inSync.output)")
        try edit(repo + "/manifests/deployment.yaml") { $0.replacingOccurrences(of: "version: 1", with: "version: 2") }
        try await git(["commit", "-qam", "Pin v2 again"], in: repo, author: "Ada")
        let drifted = try await gantry(["diff", "churn-prod", "--repo", repo])
        #expect(drifted.code == 2, "Git pins another version than serves: \(drifted.output)")
        #expect(drifted.output.split(separator: "\n").contains { $0.hasPrefix("! version") && $0.contains("2") && $0.contains("1") }, "\(drifted.output)")
        _ = try await gantry(["destroy"])
    }

    /// A project whose training takes a while and counts its runs. With
    /// `held`, the training waits until the file `<marker>.go` exists (at
    /// most a minute): a test that kills the controller mid-training then
    /// does not depend on how fast it gets to the kill.
    func slowProject(marker: String, held: Bool = false) async throws -> String {
        let repo = scratch("slow")
        let wait = held ? "os.path.exists(sys.argv[2] + '.go') or time.time() - t > 60" : "time.time() - t > 2"
        let pipeline = """
            apiVersion: gantry.dev/v1alpha1
            kind: Pipeline
            metadata: { name: slow }
            spec:
              steps:
                - name: train
                  command: [python3, -c, "import os, sys, time\\nt = time.time()\\nwhile not (\(wait)): time.sleep(0.05)\\nopen(sys.argv[1] + '/m', 'w').write('m'); open(sys.argv[2], 'a').write('run\\\\n')", "${outputs}", "\(marker)"]
              artifact: { step: train, path: m }
            ---
            apiVersion: gantry.dev/v1alpha1
            kind: Model
            metadata: { name: slow }
            spec: { pipeline: slow, target: local }
            """
        try pipeline.write(toFile: repo + "/gantry.yaml", atomically: true, encoding: .utf8)
        try await git(["init", "-q", "-b", "main"], in: repo, author: "Ada")
        try await git(["add", "-A"], in: repo, author: "Ada")
        try await git(["commit", "-qm", "Slow model"], in: repo, author: "Ada")
        return repo
    }

    /// Starts `gantry apply`, waits until its training launch is recorded,
    /// and SIGKILLs it. Returns the runner's process identity.
    func applyKilledDuringTraining(repo: String, state: String) async throws -> ProcessIdentity {
        let log = scratch("k") + "/log"
        let apply = try ChildProcess.spawn(
            ProcessSpec(
                argv: [gantryExecutable, "apply", "--repo", repo, "--state-dir", state],
                environment: ProcessInfo.processInfo.environment, logPath: log))
        var runner: ProcessIdentity?
        while runner == nil {
            try await Task.sleep(for: .milliseconds(20))
            if let status = apply.exitStatus {
                throw TestFailure("apply ended (\(status)) before its training was seen: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            if let store = try? StateStore.existing(directory: state), let intent = try? store.openIntents().first {
                struct Detail: Decodable { var runner: ProcessIdentity }
                runner = try? JSONDecoder().decode(Detail.self, from: Data(intent.detail.utf8)).runner
            }
        }
        // The runner is recorded before its gate opens: killed in between, it
        // would rightly never run. Wait until it has passed the gate (it
        // execs the runner as the same process).
        while let raw = FileManager.default.contents(atPath: "/proc/\(runner!.pid)/cmdline"),
            raw.split(separator: 0).dropFirst().first.map({ String(decoding: $0, as: UTF8.self) }) == "gate"
        {
            try await Task.sleep(for: .milliseconds(5))
        }
        kill(apply.pid, SIGKILL)
        _ = await apply.wait()
        return runner!
    }

    @Test func aControllerKilledDuringTrainingAdoptsTheRunningJobOnRestart() async throws {
        let marker = scratch("marker") + "/runs"
        let repo = try await slowProject(marker: marker, held: true)
        let state = scratch("state")
        let runner = try await applyKilledDuringTraining(repo: repo, state: state)
        #expect(runner.isRunning, "the training outlives the controller")
        FileManager.default.createFile(atPath: marker + ".go", contents: nil)

        let applied = try await gantryAsAda(["apply", "--repo", repo, "--state-dir", state], in: repo)
        #expect(applied.code == 0, "\(applied.output)")
        #expect(applied.output.contains("in flight and will be adopted"))
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "run\n", "trained exactly once")
        #expect(try StateStore(directory: state).versions(of: "slow").map(\.number) == [1])
    }

    @Test func aTrainingThatDiedWithTheControllerIsLaunchedOnceMore() async throws {
        let marker = scratch("marker") + "/runs"
        let repo = try await slowProject(marker: marker, held: true)
        let state = scratch("state")
        let runner = try await applyKilledDuringTraining(repo: repo, state: state)
        // The machine "restarts": the run dies too, before writing anything,
        // and with it every step it started (they share its session, not its
        // process group). Only then may a training go on: opened before
        // the kill, the dying step could finish first and count twice.
        killSession(runner.pid)
        FileManager.default.createFile(atPath: marker + ".go", contents: nil)
        let applied = try await gantryAsAda(["apply", "--repo", repo, "--state-dir", state], in: repo)
        #expect(applied.code == 0, "\(applied.output)")
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "run\n", "relaunched exactly once")
        #expect(try StateStore(directory: state).versions(of: "slow").map(\.number) == [1])
        let again = try await gantryAsAda(["plan", "--repo", repo, "--state-dir", state], in: repo).output
        #expect(again.contains("No changes"))
    }

    @Test func theControllerReconcilesAndStopsGracefullyOnSIGTERM() async throws {
        let marker = scratch("marker") + "/runs"
        let repo = try await slowProject(marker: marker)
        let state = scratch("state")
        let log = scratch("ctl") + "/log"
        let controller = try ChildProcess.spawn(
            ProcessSpec(
                argv: [gantryExecutable, "controller", "--repo", repo, "--interval", "1s", "--log-format", "json", "--state-dir", state],
                environment: ProcessInfo.processInfo.environment, logPath: log))
        try await eventually("the controller trained v1", timeout: .seconds(120)) {
            try StateStore.existing(directory: state)?.versions(of: "slow").count == 1
        }
        kill(controller.pid, SIGTERM)
        let status = await controller.wait()
        #expect(status == .exited(0))
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let messages = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(messages.count == lines.count, "every line is a JSON object")
        let reconciled = messages.first { $0["msg"] as? String == "reconciled" && $0["result"] as? String == "applied" }
        #expect(reconciled != nil, "\(lines)")
        // Counts and durations are numbers a log query can compare.
        #expect(reconciled?["actions"] as? Int == 1 && reconciled?["seconds"] is Double, "\(reconciled ?? [:])")
        #expect(messages.last?["msg"] as? String == "controller stopped")
    }
}

/// SIGKILL to every process in the session `leader` leads, as a machine
/// going down would end them. Repeated until a look finds none left: a
/// process forked while /proc was being read escapes one pass.
func killSession(_ leader: Int32) {
    guard leader > 1 else { return }
    for _ in 0..<100 {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
        var found = false
        for entry in entries {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")  // state ppid pgrp session ...
            // A zombie (state Z) is dead already; its parent reaps it.
            if fields.count > 3, Int32(fields[3]) == leader, fields[0] != "Z" {
                kill(pid, SIGKILL)
                found = true
            }
        }
        if !found { return }
        usleep(10_000)
    }
}
