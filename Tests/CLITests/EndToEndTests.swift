import Foundation
import HTTP
import Processes
import StableAddress
import State
import Synchronization
import Testing

/// The gantry binary built next to the test bundle.
let gantryBinary: String = {
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return (me as NSString).deletingLastPathComponent + "/gantry"
}()

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

private func scratch(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "gantry-e2e-\(name)-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

private func run(_ argv: [String], in directory: String) async throws -> (Int32, String) {
    let log = scratch("log") + "/out"
    var env = ProcessInfo.processInfo.environment
    env["GIT_AUTHOR_NAME"] = "Ada"; env["GIT_AUTHOR_EMAIL"] = "ada@example.com"
    env["GIT_COMMITTER_NAME"] = "Ada"; env["GIT_COMMITTER_EMAIL"] = "ada@example.com"
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    let r = try await Processes.run(ProcessSpec(argv: argv, environment: env, workingDirectory: directory, logPath: log), timeout: .seconds(300))
    let out = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    if case .exited(let code) = r.status { return (code, out) }
    return (-1, out)
}

private func edit(_ path: String, _ change: (String) -> String) throws {
    try change(try String(contentsOfFile: path, encoding: .utf8)).write(toFile: path, atomically: true, encoding: .utf8)
}

private func predict(port: Int) async throws -> HTTPResponse {
    let body = #"{"instances": [{"tenure_months": 2, "monthly_charges": 99.5, "support_calls": 4, "contract_annual": 0}]}"#
    return try await HTTPClient.shared.send(HTTPRequest(method: "POST", url: "http://127.0.0.1:\(port)/predict",
                                                        headers: [("Content-Type", "application/json")], body: Array(body.utf8), timeout: .seconds(5)))
}

/// Answered and failed requests, counted by one task and read by another.
private final class Tally: Sendable {
    private let counts = Mutex((ok: 0, failed: 0))
    func count(ok: Bool) { counts.withLock { if ok { $0.ok += 1 } else { $0.failed += 1 } } }
    var now: (ok: Int, failed: Int) { counts.withLock { $0 } }
}

struct DriverFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

@Suite(.serialized, .timeLimit(.minutes(5)))
struct EndToEndTests {
    /// The quickstart as a user lives it, through the CLI.
    @Test func quickstartTrainsServesRetrainsSwitchesAndPinsBack() async throws {
        let repo = scratch("repo")
        try FileManager.default.removeItem(atPath: repo)
        try FileManager.default.copyItem(atPath: root + "/examples/quickstart", toPath: repo)
        let port = Int(try freeLoopbackPort())
        try edit(repo + "/manifests/deployment.yaml") { $0.replacingOccurrences(of: "127.0.0.1:8700", with: "127.0.0.1:\(port)") }
        _ = try await run(["git", "init", "-q", "-b", "main"], in: repo)
        _ = try await run(["git", "add", "-A"], in: repo)
        _ = try await run(["git", "commit", "-qm", "Quickstart"], in: repo)
        let state = scratch("state")
        let gantry = { (args: [String]) in try await run([gantryBinary] + args + ["--state-dir", state], in: repo) }
        defer { Task { _ = try? await run([gantryBinary, "destroy", "--state-dir", state], in: repo) } }

        let (applied, log) = try await gantry(["apply", "--repo", repo])
        #expect(applied == 0, "\(log)")
        let first = try await predict(port: port)
        #expect(first.status == 200)
        #expect(first.text.contains("churn_probability"))

        // A params change and the pin to the version it will produce.
        try edit(repo + "/manifests/model.yaml") { $0.replacingOccurrences(of: "epochs: 300", with: "epochs: 400") }
        try edit(repo + "/manifests/deployment.yaml") { $0.replacingOccurrences(of: "version: 1", with: "version: 2") }
        _ = try await run(["git", "commit", "-qam", "Train longer and ship it"], in: repo)
        let (planned, plan) = try await gantry(["plan", "--repo", repo])
        #expect(planned == 2)
        #expect(plan.contains("train Model/churn -> v2: param epochs changed (300 -> 400) since v1"))
        #expect(plan.contains("deploy Deployment/churn-prod churn@v1 -> v2: pinned 2, serving 1"))

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
                let r = try? HTTPClient.shared.perform(HTTPRequest(method: "POST", url: "http://127.0.0.1:\(port)/predict",
                                                                    headers: [("Content-Type", "application/json")],
                                                                    body: Array(body.utf8), timeout: .seconds(5)))
                tally.count(ok: r?.status == 200)
            }
            loadEnded.store(true, ordering: .relaxed)
        }
        let (second, secondLog) = try await gantry(["apply", "--repo", repo])
        let duringRollout = tally.now
        let deadline = ContinuousClock.now + .seconds(60)
        while tally.now.ok < duringRollout.ok + 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        stop.store(true, ordering: .relaxed)
        while !loadEnded.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(10)) }
        let (ok, failed) = tally.now
        #expect(second == 0, "\(secondLog)")
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
        _ = try await run(["git", "commit", "-qam", "Roll back to v1"], in: repo)
        let (_, back) = try await gantry(["apply", "--repo", repo])
        #expect(back.contains("1 action:\n  deploy Deployment/churn-prod churn@v2 -> v1: pinned 1, serving 2"))
        #expect(try store.versions(of: "churn").count == 2)
        let healthBack = try await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:\(port)/health")).text
        #expect(healthBack.contains(String(versions[0].artifactDigest.dropFirst(7).prefix(12))))
        let (_, lineage) = try await gantry(["lineage", "churn@2"])
        #expect(lineage.contains("param       epochs = 400"))
        #expect(lineage.contains("parent      v1: param epochs changed (300 -> 400)"))

        // What happened, as the read commands tell it.
        let (historyStatus, history) = try await gantry(["history"])
        #expect(historyStatus == 0, "\(history)")
        let rows = history.split(separator: "\n").dropFirst().map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(rows.map { $0[3] } == ["applied", "applied", "applied"], "newest first, each applied: \(history)")
        #expect(rows.map { $0[4] } == ["1", "2", "2"], "actions of each reconcile, newest first: \(history)")
        #expect(history.contains("Ada <ada@example.com>: Roll back to v1") && history.contains("Ada <ada@example.com>: Quickstart"), "\(history)")

        let (versionsStatus, versionsText) = try await gantry(["versions", "churn"])
        #expect(versionsStatus == 0)
        let versionRows = versionsText.split(separator: "\n").dropFirst()
        #expect(versionRows.map { $0.split(separator: " ").first } == ["v1", "v2"], "\(versionsText)")
        #expect(versionRows.allSatisfy { $0.contains(" pass ") && $0.contains("accuracy=") }, "\(versionsText)")
        let (_, versionsJSON) = try await gantry(["versions", "churn", "-o", "json"])
        let listed = try #require(try JSONSerialization.jsonObject(with: Data(versionsJSON.utf8)) as? [[String: Any]])
        #expect(listed.map { $0["number"] as? Int } == [1, 2])

        let (inSync, diff) = try await gantry(["diff", "churn-prod", "--repo", repo])
        #expect(inSync == 0, "serving what Git pins: \(diff)")
        #expect(diff.contains("  version") && !diff.contains("! "), "\(diff)")
        try edit(repo + "/manifests/deployment.yaml") { $0.replacingOccurrences(of: "version: 1", with: "version: 2") }
        _ = try await run(["git", "commit", "-qam", "Pin v2 again"], in: repo)
        let (drifted, drift) = try await gantry(["diff", "churn-prod", "--repo", repo])
        #expect(drifted == 2, "Git pins another version than serves: \(drift)")
        #expect(drift.split(separator: "\n").contains { $0.hasPrefix("! version") && $0.contains("2") && $0.contains("1") }, "\(drift)")
        _ = try await run([gantryBinary, "destroy", "--state-dir", state], in: repo)
    }

    /// A project whose training takes a while and counts its runs.
    func slowProject(marker: String) async throws -> String {
        let repo = scratch("slow")
        let pipeline = """
        apiVersion: gantry.dev/v1alpha1
        kind: Pipeline
        metadata: { name: slow }
        spec:
          steps:
            - name: train
              command: [python3, -c, "import sys, time; time.sleep(2); open(sys.argv[1] + '/m', 'w').write('m'); open(sys.argv[2], 'a').write('run\\\\n')", "${outputs}", "\(marker)"]
          artifact: { step: train, path: m }
        ---
        apiVersion: gantry.dev/v1alpha1
        kind: Model
        metadata: { name: slow }
        spec: { pipeline: slow, target: local }
        """
        try pipeline.write(toFile: repo + "/gantry.yaml", atomically: true, encoding: .utf8)
        _ = try await run(["git", "init", "-q", "-b", "main"], in: repo)
        _ = try await run(["git", "add", "-A"], in: repo)
        _ = try await run(["git", "commit", "-qm", "Slow model"], in: repo)
        return repo
    }

    /// Starts `gantry apply`, waits until its training launch is recorded,
    /// and SIGKILLs it. Returns the runner's process identity.
    func applyKilledDuringTraining(repo: String, state: String) async throws -> ProcessIdentity {
        let log = scratch("k") + "/log"
        let apply = try ChildProcess.spawn(ProcessSpec(argv: [gantryBinary, "apply", "--repo", repo, "--state-dir", state],
                                                       environment: ProcessInfo.processInfo.environment, logPath: log))
        var runner: ProcessIdentity?
        while runner == nil {
            try await Task.sleep(for: .milliseconds(20))
            if let status = apply.exitStatus {
                throw DriverFailure("apply ended (\(status)) before its training was seen: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            if let store = try? StateStore.existing(directory: state), let intent = try? store.openIntents().first {
                struct Detail: Decodable { var runner: ProcessIdentity }
                runner = try? JSONDecoder().decode(Detail.self, from: Data(intent.detail.utf8)).runner
            }
        }
        kill(apply.pid, SIGKILL)
        _ = await apply.wait()
        return runner!
    }

    @Test func aControllerKilledDuringTrainingAdoptsTheRunningJobOnRestart() async throws {
        let marker = scratch("marker") + "/runs"
        let repo = try await slowProject(marker: marker)
        let state = scratch("state")
        let runner = try await applyKilledDuringTraining(repo: repo, state: state)
        #expect(runner.isRunning, "the training outlives the controller")

        let (status, log) = try await run([gantryBinary, "apply", "--repo", repo, "--state-dir", state], in: repo)
        #expect(status == 0, "\(log)")
        #expect(log.contains("in flight and will be adopted"))
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "run\n", "trained exactly once")
        #expect(try StateStore(directory: state).versions(of: "slow").map(\.number) == [1])
    }

    @Test func aTrainingThatDiedWithTheControllerIsLaunchedOnceMore() async throws {
        let marker = scratch("marker") + "/runs"
        let repo = try await slowProject(marker: marker)
        let state = scratch("state")
        let runner = try await applyKilledDuringTraining(repo: repo, state: state)
        // The machine "restarts": the run dies too, before writing anything,
        // and with it every step it started (they share its session, not its
        // process group).
        killSession(runner.pid)
        let (status, log) = try await run([gantryBinary, "apply", "--repo", repo, "--state-dir", state], in: repo)
        #expect(status == 0, "\(log)")
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "run\n", "relaunched exactly once")
        #expect(try StateStore(directory: state).versions(of: "slow").map(\.number) == [1])
        let (_, again) = try await run([gantryBinary, "plan", "--repo", repo, "--state-dir", state], in: repo)
        #expect(again.contains("No changes"))
    }

    @Test func theControllerReconcilesAndStopsGracefullyOnSIGTERM() async throws {
        let marker = scratch("marker") + "/runs"
        let repo = try await slowProject(marker: marker)
        let state = scratch("state")
        let log = scratch("ctl") + "/log"
        let controller = try ChildProcess.spawn(ProcessSpec(
            argv: [gantryBinary, "controller", "--repo", repo, "--interval", "1s", "--log-format", "json", "--state-dir", state],
            environment: ProcessInfo.processInfo.environment, logPath: log))
        while (try? StateStore.existing(directory: state)?.versions(of: "slow").count) != 1 {
            try await Task.sleep(for: .milliseconds(100))
        }
        kill(controller.pid, SIGTERM)
        let status = await controller.wait()
        #expect(status == .exited(0))
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let messages = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
        #expect(messages.count == lines.count, "every line is a JSON object")
        #expect(messages.contains { $0["msg"] == "reconciled" && $0["result"] == "applied" })
        #expect(messages.last?["msg"] == "controller stopped")
    }
}

/// SIGKILL to every process in the session `leader` leads, as a machine
/// going down would end them.
func killSession(_ leader: Int32) {
    guard leader > 1, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
    for entry in entries {
        guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")  // state ppid pgrp session ...
        if fields.count > 3, Int32(fields[3]) == leader { kill(pid, SIGKILL) }
    }
}
