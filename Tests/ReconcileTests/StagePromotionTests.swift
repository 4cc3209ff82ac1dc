import Foundation
import GantryTestSupport
import Planner
import Reconciler
import State
import Testing

/// Staging to prod: a retrained version is auto-promoted to the first stage
/// only; prod takes it by a commit once staging has served it, live and
/// healthy, for the soak.
@Suite struct StagePromotionTests {
    typealias Rig = FakeDriverTests.Rig

    static func promotion(soak: String) -> String {
        "  promotion: { from: demo-staging, soak: \(soak), gates: [\"accuracy >= 0.9\"] }\n"
    }

    /// The project and a bare clone of it that Gantry follows and commits
    /// to (write-back to a work tree goes to a branch instead).
    static func project() async throws -> (TestProject, String) {
        let project = try await TestProject(port: freePort())
        project.write(
            "manifests/model.yaml",
            try String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8)
                .replacingOccurrences(of: "policy: manual", with: "policy: auto"))
        project.write(
            "manifests/deployment.yaml",
            project.deployment(version: 1, extra: Self.promotion(soak: "1h")))
        project.write(
            "manifests/staging.yaml",
            project.deployment(version: 1)
                .replacingOccurrences(of: "name: demo-prod", with: "name: demo-staging")
                .replacingOccurrences(of: "address: 127.0.0.1:\(project.port)", with: "address: 127.0.0.1:\(project.port + 1)"))
        try await project.commit("Stage demo: staging, then prod")
        let bare = makeTemporaryDirectory("gantry-stage-remote") + "/demo.git"
        try await git(["clone", "-q", "--bare", project.directory, bare], in: project.directory)
        try await git(["remote", "add", "served", bare], in: project.directory)
        return (project, bare)
    }

    /// Commits what the project's work tree has, on top of what Gantry
    /// committed, and publishes it.
    static func publish(_ project: TestProject, _ message: String, edit: () throws -> Void) async throws {
        try await git(["pull", "-q", "--rebase", "served", "main"], in: project.directory)
        try edit()
        try await project.commit(message)
        try await git(["push", "-q", "served", "HEAD:main"], in: project.directory)
    }

    @Test func prodTakesTheVersionByACommitOnlyAfterStagingServedItForTheSoak() async throws {
        let (project, bare) = try await Self.project()
        let rig = try Rig(project, location: bare)
        let (_, first) = try await rig.apply()
        #expect(first.result == .applied, "\(first.failed)")

        // Retrained: auto-promotion pins the first stage only.
        try await Self.publish(project, "Retrain demo") {
            try project.setQuality("0.95")
        }
        let (_, retrained) = try await rig.apply()
        #expect(retrained.result == .applied, "\(retrained.failed)")
        let bump = try await git(["show", "--stat", "--format=%s", "HEAD"], in: bare)
        #expect(bump.hasPrefix("gantry: promote demo to v2"), "\(bump)")
        #expect(bump.contains("manifests/staging.yaml") && !bump.contains("manifests/deployment.yaml"), "only the first stage: \(bump)")

        // Staging serves v2; prod waits out the soak.
        let (waiting, deployed) = try await rig.apply()
        #expect(deployed.result == .applied, "\(deployed.failed)")
        #expect(rig.fake.serving("demo-staging", on: "local") == 2)
        #expect(!waiting.actions.contains { $0.kind == .promote }, "\(waiting.text)")
        let (soaking, _) = try await rig.apply()
        #expect(
            soaking.warnings.contains { $0.hasPrefix("Deployment/demo-prod: takes v2 from Deployment/demo-staging once demo-staging has served v2 for 1h (") },
            "\(soaking.text)")
        #expect(try await git(["log", "-1", "--format=%s"], in: bare).hasPrefix("gantry: promote demo to v2"), "no commit yet")

        // The soak shortened to one second, and that second passed (the
        // clock is read at each plan; a slow machine only adds to it).
        try await Self.publish(project, "Soak prod for 1s") {
            project.write("manifests/deployment.yaml", project.deployment(version: 1, extra: Self.promotion(soak: "1s")))
        }
        try await Task.sleep(for: .seconds(1.1))
        let (promoted, report) = try await rig.apply()
        #expect(report.result == .applied, "\(report.failed)")
        #expect(
            promoted.actions.map(\.summary).first?.hasPrefix("promote Deployment/demo-prod to demo@v2 from Deployment/demo-staging: ") == true,
            "\(promoted.text)")
        let commit = try await git(["show", "--stat", "--format=%s", "HEAD"], in: bare)
        #expect(commit.hasPrefix("gantry: promote demo-prod to demo@v2 from demo-staging"), "\(commit)")
        #expect(commit.contains("manifests/deployment.yaml") && !commit.contains("staging.yaml"))
        #expect(try await git(["show", "HEAD:manifests/deployment.yaml"], in: bare).contains("version: 2"))

        // The commit is Git now: prod moves, and nothing is proposed again.
        let (_, moved) = try await rig.apply()
        #expect(moved.result == .applied, "\(moved.failed)")
        #expect(rig.fake.serving("demo-prod", on: "local") == 2)
        let (settled, quiet) = try await rig.apply()
        #expect(quiet.result == .nothingToDo, "\(settled.text)")
    }

    @Test func aVersionFailingTheStagesGatesWaitsAndSaysWhy() async throws {
        let (project, bare) = try await Self.project()
        let rig = try Rig(project, location: bare)
        _ = try await rig.apply()
        // Trained with accuracy 0.85: it passes the model's gate (0.8) and
        // staging takes it, but prod's gate asks for 0.9.
        rig.fake.setMetrics(["accuracy": 0.85])
        try await Self.publish(project, "Retrain demo") {
            try project.setQuality("0.85")
        }
        _ = try await rig.apply()
        _ = try await rig.apply()
        let (plan, report) = try await rig.apply()
        #expect(report.result == .nothingToDo, "\(plan.text)")
        #expect(
            plan.warnings.contains("Deployment/demo-prod: takes v2 from Deployment/demo-staging once v2 passes accuracy >= 0.9 (it does not)"), "\(plan.text)")
    }
}

/// A person's rollback holds against automatic promotion until a person
/// changes the pin in Git.
@Suite struct ManualRollbackTests {
    typealias Rig = FakeDriverTests.Rig

    static func retrain(_ project: TestProject, quality: String) async throws {
        try await StagePromotionTests.publish(project, "Retrain demo (\(quality))") {
            let path = project.directory + "/manifests/model.yaml"
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let current = try #require(text.range(of: #"quality: [0-9.]+"#, options: .regularExpression))
            project.write("manifests/model.yaml", text.replacingCharacters(in: current, with: "quality: \(quality)"))
        }
    }

    @Test func automaticPromotionLeavesARolledBackDeploymentAloneUntilAPersonMovesItsPin() async throws {
        let (project, bare) = try await StagePromotionTests.project()
        // One stage: prod follows the model's auto promotion.
        try await StagePromotionTests.publish(project, "Prod is a first stage") {
            project.write("manifests/deployment.yaml", project.deployment(version: 1))
            try FileManager.default.removeItem(atPath: project.directory + "/manifests/staging.yaml")
        }
        let rig = try Rig(project, location: bare)
        _ = try await rig.apply()
        try await Self.retrain(project, quality: "0.95")
        _ = try await rig.apply()
        _ = try await rig.apply()
        #expect(rig.fake.serving("demo-prod", on: "local") == 2, "v2 promoted and served")

        let rolled = try rig.reconciler().rollback(deployment: "demo-prod", to: 1, actor: "alice", reason: "latency")
        #expect(rolled.applied, "\(rolled.outcome)")
        _ = try await rig.apply()
        #expect(rig.fake.serving("demo-prod", on: "local") == 1)

        // v3 passes its gates, but prod stays where alice put it.
        try await Self.retrain(project, quality: "0.96")
        let (_, trained) = try await rig.apply()
        #expect(trained.result == .applied, "\(trained.failed)")
        #expect(try await git(["show", "HEAD:manifests/deployment.yaml"], in: bare).contains("version: 1"))
        let v3 = try #require(try rig.store.version("demo", 3))
        #expect(v3.promotion == "nothing pinned; demo-prod left on v1: pinned to v1 by a rollback (alice: latency)", "\(v3.promotion)")
        let status = try await gantry(["status", "--state-dir", rig.workspace.root])
        #expect(status.output.contains("demo-prod: pinned to v1 by a rollback (alice: latency); automatic promotion leaves it alone"), "\(status.output)")

        // A person pins v3 by hand: the rollback's hold is over, and the
        // next retrained version is promoted again.
        try await StagePromotionTests.publish(project, "Ship v3") {
            project.write("manifests/deployment.yaml", project.deployment(version: 3))
        }
        try await Self.retrain(project, quality: "0.97")
        _ = try await rig.apply()
        #expect(try await git(["show", "HEAD:manifests/deployment.yaml"], in: bare).contains("version: 4"))
        #expect(try rig.store.manualPin("demo-prod") == nil)
    }
}
