import Foundation
import GantryTestSupport
import Manifests
import Processes
import Testing

@testable import Git
@testable import Planner
@testable import Reconciler
@testable import Source
@testable import State
@testable import Targets

/// A project whose data lives outside Git, served by a real git daemon
/// that accepts pushes, and a harness following it over git://.
final class RemoteProject: @unchecked Sendable {
    let project: TestProject
    let data: String
    let served: String
    let url: String
    let daemon: ChildProcess

    init(policy: String, gate: String = "accuracy >= 0.8") async throws {
        project = try await TestProject(port: freePort())
        data = makeTemporaryDirectory("gantry-data")
        try "x,y\n1,2\n".write(toFile: data + "/a.csv", atomically: true, encoding: .utf8)
        try "x,y\n3,4\n".write(toFile: data + "/b.csv", atomically: true, encoding: .utf8)
        project.writeRowsDataset(path: data)
        project.write(
            "manifests/model.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Model
            metadata: { name: demo }
            spec:
              pipeline: demo-training
              datasets: [rows]
              target: local
              params: { quality: 0.9 }
              promotion: { policy: \(policy), gates: ["\(gate)"] }
            """)
        try await project.commit("Data outside Git")
        served = makeTemporaryDirectory("gantry-served")
        try await git(["clone", "-q", "--bare", project.directory, served + "/models.git"], in: served)
        let port = freePort()
        daemon = try ChildProcess.spawn(
            ProcessSpec(
                argv: [
                    "git", "daemon", "--export-all", "--enable=receive-pack", "--base-path=\(served)", "--listen=127.0.0.1",
                    "--port=\(port)", "--reuseaddr", served,
                ],
                environment: ProcessInfo.processInfo.environment, logPath: served + "/daemon.log"))
        url = "git://127.0.0.1:\(port)/models.git"
        try await eventually("the daemon serves the repository") {
            try await git(["ls-remote", url], in: served)
            return true
        }
    }

    func harness() throws -> Harness { try Harness(project, location: url) }

    /// The remote's main branch: subject, author and a file's content.
    func remote(_ path: String = "manifests/deployment.yaml", ref: String = "main") async throws -> (subject: String, author: String, file: String) {
        let subject = try await git(["--git-dir", served + "/models.git", "log", "-1", "--format=%s", ref], in: served)
        let author = try await git(["--git-dir", served + "/models.git", "log", "-1", "--format=%an <%ae>", ref], in: served)
        let file = try await git(["--git-dir", served + "/models.git", "show", "\(ref):\(path)"], in: served)
        return (subject.trimmingCharacters(in: .newlines), author.trimmingCharacters(in: .newlines), file)
    }

    func stop() async { _ = await daemon.terminate(grace: .seconds(2)) }
}

@Suite(.serialized, .timeLimit(.minutes(3)))
struct WriteBackTests {
    @Test func aDataChangeRetrainsOnceAndCommitsThePinBumpToTheRemote() async throws {
        let remote = try await RemoteProject(policy: "auto")
        let h = try remote.harness()
        try await h.apply()
        #expect(try h.store.versions(of: "demo").map(\.number) == [1])

        try "x,y\n3,4\n5,6\n".write(toFile: remote.data + "/b.csv", atomically: true, encoding: .utf8)
        let (plan, report) = try await h.apply()
        #expect(
            plan.actions.map(\.summary) == [
                plan.actions[0].summary,
                "promote Model/demo v2: policy auto: pin v2 if it passes its gates",
            ])
        #expect(plan.actions[0].kind == .train)
        #expect(plan.actions[0].reason.hasPrefix("dataset rows changed (sha256:"))
        #expect(report.failed.isEmpty, "\(report.failed.map(\.error))")
        #expect(try h.store.versions(of: "demo").map(\.number) == [1, 2])
        let pushed = try await remote.remote()
        #expect(pushed.subject == "gantry: promote demo to v2 (dataset rows changed)")
        #expect(pushed.author == "Gantry <gantry@localhost>")
        #expect(pushed.file == remote.project.deployment(version: 2), "a one-line change, everything else byte for byte")
        #expect(try h.store.version("demo", 2)?.promotion.hasPrefix("committed ") == true)

        // The next reconcile deploys what Git now pins, training nothing.
        let (next, _) = try await h.apply()
        #expect(next.actions.map(\.summary) == ["deploy Deployment/demo-prod demo@v1 -> v2: pinned 2, serving 1"])
        let (last, _) = try await h.apply()
        #expect(last.actions.isEmpty)
        #expect(try h.store.versions(of: "demo").count == 2, "exactly one retrain")
        await h.tearDown()
        await remote.stop()
    }

    @Test func manualPromotionPushesABranchForReviewAndLeavesMainAlone() async throws {
        let remote = try await RemoteProject(policy: "manual")
        let h = try remote.harness()
        try await h.apply()
        try "x,y\n7,8\n".write(toFile: remote.data + "/a.csv", atomically: true, encoding: .utf8)
        try await h.apply()
        let main = try await remote.remote()
        #expect(main.subject == "Data outside Git")
        let branch = try await remote.remote(ref: "gantry/demo-v2")
        #expect(branch.subject == "gantry: promote demo to v2 (dataset rows changed)")
        #expect(branch.file.contains("version: 2"))
        #expect(try h.store.deployment("demo-prod")?.version == 1, "Git still pins 1 on main: nothing else serves")
        #expect(try await h.plan().actions.isEmpty, "the branch is pushed once")
        await h.tearDown()
        await remote.stop()
    }

    @Test func aVersionFailingItsGatesIsRecordedButNeverPromoted() async throws {
        let remote = try await RemoteProject(policy: "auto", gate: "accuracy >= 0.95")
        let h = try remote.harness()
        try await h.apply()
        try "x,y\n9,9\n".write(toFile: remote.data + "/a.csv", atomically: true, encoding: .utf8)
        let (_, report) = try await h.apply()
        #expect(report.failed.isEmpty)
        #expect(report.skipped.map(\.reason) == ["v2 fails its gates: accuracy 0.9 fails accuracy >= 0.95"])
        let v2 = try #require(try h.store.version("demo", 2))
        #expect(!v2.gatesPassed)
        #expect(v2.promotion == "blocked: accuracy 0.9 fails accuracy >= 0.95")
        #expect(try await remote.remote().subject == "Data outside Git")

        let status = try await gantry(["status", "--state-dir", h.workspace.root], timeout: .seconds(30)).output
        #expect(status.contains("gates: accuracy 0.9 fails accuracy >= 0.95; never promoted"))
        await h.tearDown()
        await remote.stop()
    }

    @Test func aPushRejectedBecauseMainMovedIsRebasedAndRetried() async throws {
        let remote = try await RemoteProject(policy: "auto")
        let h = try remote.harness()
        let other = makeTemporaryDirectory("other") + "/clone"
        try await git(["clone", "-q", remote.url, other], in: remote.served)
        var interfered = false
        let result = try h.source.writeBack(
            message: "gantry: promote demo to v2 (test)", author: Signature(name: "Gantry", email: "g@x"),
            destination: .trackedBranch(fallback: "gantry/demo-v2")
        ) { tip in
            if !interfered {
                // Someone else pushes to main between our fetch and our push.
                interfered = true
                let sem = DispatchSemaphore(value: 0)
                Task {
                    try "notes\n".write(toFile: other + "/NOTES.md", atomically: true, encoding: .utf8)
                    try await git(["add", "-A"], in: other)
                    try await git(["commit", "-qm", "Someone else's change"], in: other, author: "Eve")
                    try await git(["push", "-q", "origin", "main"], in: other)
                    sem.signal()
                }
                sem.wait()
            }
            let path = "manifests/deployment.yaml"
            return [path: try PinEditor.setVersion(2, deployment: "demo-prod", in: try tip.file(path) ?? [], file: path)]
        }
        #expect(result?.attempts == 2)
        let log = try await git(["--git-dir", remote.served + "/models.git", "log", "--format=%s", "main"], in: remote.served)
        #expect(log.split(separator: "\n").prefix(2) == ["gantry: promote demo to v2 (test)", "Someone else's change"])
        #expect(try await remote.remote().file.contains("version: 2"))
        await remote.stop()
    }
}

@Suite(.serialized, .timeLimit(.minutes(3)))
struct RollbackCommandTests {
    @Test func rollbackCommitsTheOlderPinAndTheNextReconcileServesIt() async throws {
        let remote = try await RemoteProject(policy: "auto")
        let h = try remote.harness()
        try await h.apply()
        try "x,y\n5,5\n".write(toFile: remote.data + "/a.csv", atomically: true, encoding: .utf8)
        try await h.apply()  // v2, pin bump committed
        try await h.apply()  // deploys v2
        #expect(try h.store.deployment("demo-prod")?.version == 2)

        // The person asking is whoever Git knows on this machine.
        let home = makeTemporaryDirectory("home")
        try "[user]\n\tname = Grace Hopper\n\temail = grace@example.com\n".write(toFile: home + "/.gitconfig", atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = home
        environment["XDG_CONFIG_HOME"] = home + "/.config"
        environment["GIT_CONFIG_NOSYSTEM"] = "1"
        let r = try await gantry(
            ["rollback", "demo-prod", "--reason", "v2 misbehaves", "--repo", remote.url, "--state-dir", h.workspace.root],
            environment: environment, timeout: .seconds(60))
        #expect(r.status == .exited(0), "\(r.output)")
        let pushed = try await remote.remote()
        #expect(pushed.subject == "gantry: roll back demo-prod to demo@v1 (from v2)")
        #expect(pushed.file == remote.project.deployment(version: 1))
        let body = try await git(["--git-dir", remote.served + "/models.git", "log", "-1", "--format=%b", "main"], in: remote.served)
        #expect(body.trimmingCharacters(in: .newlines) == "Requested by Grace Hopper <grace@example.com>: v2 misbehaves")
        let (plan, _) = try await h.apply()
        #expect(plan.actions.map(\.summary) == ["deploy Deployment/demo-prod demo@v2 -> v1: pinned 1, serving 2"])
        let audit = try #require(try h.store.auditLog().first { $0.action == "rollback" })
        #expect(audit.actor == "Grace Hopper <grace@example.com>")
        #expect(audit.detail.contains("v2 misbehaves"), "\(audit.detail)")

        // --author names someone else.
        try await h.apply()
        let again = try await gantry(
            [
                "rollback", "demo-prod", "--to", "2", "--author", "Ada Lovelace <ada@example.com>",
                "--repo", remote.url, "--state-dir", h.workspace.root,
            ],
            environment: environment, timeout: .seconds(60))
        #expect(again.status == .exited(0), "\(again.output)")
        let second = try await git(["--git-dir", remote.served + "/models.git", "log", "-1", "--format=%b", "main"], in: remote.served)
        #expect(second.trimmingCharacters(in: .newlines) == "Requested by Ada Lovelace <ada@example.com>")
        await h.tearDown()
        await remote.stop()
    }
}
