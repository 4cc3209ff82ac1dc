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
            project.deployment(version: 1, extra: "  promotion: { from: demo-staging, soak: 2s, gates: [\"accuracy >= 0.9\"] }\n"))
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
            project.write(
                "manifests/model.yaml",
                try String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8)
                    .replacingOccurrences(of: "quality: 0.9", with: "quality: 0.95"))
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
            soaking.warnings.contains { $0.hasPrefix("Deployment/demo-prod: takes v2 from Deployment/demo-staging once demo-staging has served v2 for 2s (") },
            "\(soaking.text)")
        #expect(try await git(["log", "-1", "--format=%s"], in: bare).hasPrefix("gantry: promote demo to v2"), "no commit yet")

        try await Task.sleep(for: .seconds(2.2))
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
            project.write(
                "manifests/model.yaml",
                try String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8)
                    .replacingOccurrences(of: "quality: 0.9", with: "quality: 0.85"))
        }
        _ = try await rig.apply()
        _ = try await rig.apply()
        try await Task.sleep(for: .seconds(2.2))
        let (plan, report) = try await rig.apply()
        #expect(report.result == .nothingToDo, "\(plan.text)")
        #expect(
            plan.warnings.contains("Deployment/demo-prod: takes v2 from Deployment/demo-staging once v2 passes accuracy >= 0.9 (it does not)"), "\(plan.text)")
    }
}
