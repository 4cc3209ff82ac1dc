import Foundation
import GantryTestSupport
import Planner
import Reconciler
import Source
import State
import Targets
import Testing

/// One Deployment across several targets, against `FakeDriver`: waves in
/// order, each read back before the next; a failed wave rolled back, the
/// version held and Git made to agree; a controller stopped mid-rollout.
@Suite struct RolloutTests {
    typealias Rig = FakeDriverTests.Rig

    /// The demo project whose Deployment serves on local and two agent
    /// nodes (the fake stands for all three), in `strategy`.
    static func project(strategy: String, autoRollback: Bool = true) async throws -> TestProject {
        let project = try await TestProject(port: freePort())
        project.write(
            "manifests/nodes.yaml",
            ["node1", "node2"].map { node in
                """
                apiVersion: gantry.dev/v1alpha1
                kind: Target
                metadata: { name: \(node) }
                spec: { type: agent, endpoint: "http://127.0.0.1:9" }
                """
            }.joined(separator: "\n---\n"))
        project.write("manifests/deployment.yaml", deployment(project, version: 1, strategy: strategy, autoRollback: autoRollback))
        try await project.commit("Serve on local and two nodes")
        return project
    }

    static func deployment(_ project: TestProject, version: Int, strategy: String, autoRollback: Bool = true, serveExtra: String = "") -> String {
        project.deployment(version: version)
            .replacingOccurrences(
                of: "  targets: [{ target: local }]",
                with: """
                      targets: [{ target: local }, { target: node1, address: "127.0.0.1:9101" }, { target: node2 }]
                      strategy: \(strategy)
                      autoRollback: \(autoRollback)
                    """
            )
            .replacingOccurrences(of: "workingDir: src", with: "workingDir: src\(serveExtra)")
    }

    static let waves = "{ type: waves, waves: [[local], [node1, node2]] }"

    /// Pins v2 and changes the params that train it, in one commit.
    static func pinV2(_ project: TestProject, strategy: String = waves, autoRollback: Bool = true) async throws {
        try project.setQuality("0.95")
        project.write("manifests/deployment.yaml", deployment(project, version: 2, strategy: strategy, autoRollback: autoRollback))
        try await project.commit("Train and pin v2")
    }

    func served(_ rig: Rig) -> [String] {
        ["local", "node1", "node2"].map { "\($0) v\(rig.fake.serving("demo-prod", on: $0).map(String.init) ?? "-")" }
    }

    @Test func wavesMoveInOrderAndEachTargetKeepsItsOwnRecord() async throws {
        let rig = try Rig(try await Self.project(strategy: Self.waves))
        let (plan, report) = try await rig.apply()
        #expect(report.result == .applied, "\(report.failed)")
        let rollout = try #require(plan.actions.first { $0.kind == .rollout })
        #expect(rollout.summary.hasPrefix("roll out Deployment/demo-prod demo@v1 in 2 waves: [local] then [node1, node2]"), "\(rollout.summary)")
        #expect(rig.fake.moves.first == "local v1", "wave 1 first")
        #expect(Set(rig.fake.moves.dropFirst()) == ["node1 v1", "node2 v1"])
        #expect(served(rig) == ["local v1", "node1 v1", "node2 v1"])
        let records = try rig.store.deployments(named: "demo-prod")
        #expect(records.map(\.target) == ["local", "node1", "node2"])
        #expect(records.first { $0.target == "node1" }?.address == "127.0.0.1:9101", "a target's own address")

        let (again, _) = try await rig.apply()
        #expect(again.actions.isEmpty, "\(again.text)")
        #expect(again.inSync.contains { $0.hasPrefix("Deployment/demo-prod: serves demo@1 at ") && $0.contains("127.0.0.1:9101") })
    }

    @Test func aTargetDroppedFromTheListIsPrunedThereOnly() async throws {
        let project = try await Self.project(strategy: "{ type: all-at-once }")
        let rig = try Rig(project)
        _ = try await rig.apply()
        project.write(
            "manifests/deployment.yaml",
            Self.deployment(project, version: 1, strategy: "{ type: all-at-once }")
                .replacingOccurrences(of: ", { target: node2 }", with: ""))
        try await project.commit("Stop serving on node2")
        let (plan, report) = try await rig.apply()
        #expect(report.result == .applied)
        #expect(plan.actions.map(\.summary) == ["prune Deployment/demo-prod: target node2 no longer listed; stop serving demo@1 at 127.0.0.1:\(project.port)"])
        #expect(try rig.store.deployments(named: "demo-prod").map(\.target) == ["local", "node1"])
    }

    @Test func aFailedWaveRollsBackEveryMovedTargetHoldsTheVersionAndGitAgrees() async throws {
        let project = try await Self.project(strategy: Self.waves)
        let rig = try Rig(project)
        _ = try await rig.apply()
        try await Self.pinV2(project)
        rig.fake.unhealthy(on: "node2", version: 2)
        let (_, report) = try await rig.apply()
        #expect(report.result == .failed)
        let error = try #require(report.failed.first?.error)
        #expect(error.contains("wave 2 of 2: node2: deployed, but does not report demo@2 live and healthy: fake answers 500 for v2"), "\(error)")
        #expect(error.contains("rolled back local to v1, node1 to v1, node2 to v1 in "), "\(error)")
        #expect(error.contains("Git: created branch gantry/rollback-demo-prod"), "manual promotion: a branch for review; \(error)")
        #expect(served(rig) == ["local v1", "node1 v1", "node2 v1"], "every target back on the old version")
        #expect(try rig.store.hold("demo-prod")?.version == 2)
        let pin = try await git(["show", "gantry/rollback-demo-prod:manifests/deployment.yaml"], in: project.directory)
        #expect(pin.contains("version: 1"))

        // Held: the next reconciles neither retry v2 nor fail again.
        let moves = rig.fake.moves.count
        for _ in 0..<2 {
            let (plan, next) = try await rig.apply()
            #expect(next.result == .nothingToDo, "\(plan.text)")
            #expect(plan.warnings.contains { $0.contains("demo@2 failed its rollout") && $0.contains("held") })
        }
        #expect(rig.fake.moves.count == moves)

        // While held, a target whose v1 server dies is repaired on v1.
        rig.fake.lose("demo-prod")
        let (repair, repaired) = try await rig.apply()
        #expect(repaired.result == .applied, "\(repaired.failed)")
        #expect(repair.actions.first?.summary.hasPrefix("roll back Deployment/demo-prod to demo@v1 on local, node1, node2: ") == true, "\(repair.text)")
        #expect(served(rig) == ["local v1", "node1 v1", "node2 v1"])
        #expect(!rig.fake.moves.suffix(3).contains { $0.hasSuffix("v2") }, "the held version is not tried")

        // A new serve spec is a new attempt: the hold is released.
        rig.fake.heal()
        project.write("manifests/deployment.yaml", Self.deployment(project, version: 2, strategy: Self.waves, serveExtra: "\n    env: { FIXED: \"1\" }"))
        try await project.commit("Fix the server")
        let (_, retried) = try await rig.apply()
        #expect(retried.result == .applied, "\(retried.failed)")
        #expect(served(rig) == ["local v2", "node1 v2", "node2 v2"])
        #expect(try rig.store.hold("demo-prod") == nil)
    }

    @Test func aFailedDeployInTheFirstWaveMovesNothingElse() async throws {
        let project = try await Self.project(strategy: Self.waves)
        let rig = try Rig(project)
        _ = try await rig.apply()
        try await Self.pinV2(project)
        rig.fake.fail(deployOn: "local", "local refused")
        let (_, report) = try await rig.apply()
        #expect(report.result == .failed)
        #expect(report.failed.first?.error.hasPrefix("wave 1 of 2: local: local refused") == true, "\(report.failed)")
        #expect(!rig.fake.moves.contains("node1 v2"), "wave 2 never starts")
        #expect(served(rig) == ["local v1", "node1 v1", "node2 v1"])
    }

    @Test func aWaveThatTurnsUnhealthyDuringItsPauseStopsTheRolloutAndIsRolledBack() async throws {
        let strategy = "{ type: waves, waves: [[local], [node1, node2]], pause: 2s }"
        let project = try await Self.project(strategy: strategy)
        let rig = try Rig(project)
        _ = try await rig.apply()
        try await Self.pinV2(project, strategy: strategy)
        let reconciler = rig.reconciler()
        let (desired, plan) = try await reconciler.plan(try rig.source.fetch())
        let task = Task { try await reconciler.apply(plan, desired: desired, actor: "test") }
        // Wave 1 is live and read back (observed healthy once); then, within
        // its pause, v2 on local starts answering 500.
        try await eventually("local took v2 and was read back", timeout: .seconds(20)) {
            rig.fake.moves.contains("local v2") && rig.fake.observations(on: "local", version: 2) >= 1
        }
        rig.fake.unhealthy(on: "local", version: 2)
        let report = try await task.value
        #expect(report.result == .failed)
        let error = try #require(report.failed.first?.error)
        #expect(error.hasPrefix("wave 1 of 2: local: fake answers 500 for v2 during the 2s pause; rolled back local to v1"), "\(error)")
        #expect(!rig.fake.moves.contains("node1 v2") && !rig.fake.moves.contains("node2 v2"), "wave 2 never starts")
        #expect(served(rig) == ["local v1", "node1 v1", "node2 v1"])
    }

    /// `onFailure: freeze`: the failed version is held, but nothing moves
    /// back and Git keeps its pin; every target stays where it was left.
    @Test func aFrozenRolloutLeavesEveryTargetWhereItIsAndHoldsTheVersion() async throws {
        let strategy = "{ type: waves, waves: [[local, node1], [node2]], onFailure: freeze }"
        let project = try await Self.project(strategy: strategy)
        let rig = try Rig(project)
        _ = try await rig.apply()
        try await Self.pinV2(project, strategy: strategy)
        rig.fake.fail(deployOn: "node2", "node2 unreachable")
        let (_, report) = try await rig.apply()
        #expect(report.result == .failed)
        let error = try #require(report.failed.first?.error)
        #expect(
            error.hasSuffix(
                "wave 2 of 2: node2: node2 unreachable; frozen (onFailure: freeze): local v2, node1 v2, node2 v1; v2 held: nothing moves until Git pins another version or changes the serve spec"
            ), "\(error)")
        #expect(served(rig) == ["local v2", "node1 v2", "node2 v1"], "what moved stays, what did not stays too")
        #expect(try rig.store.hold("demo-prod")?.version == 2)
        let branches = try await git(["branch", "--list", "gantry/*"], in: project.directory)
        #expect(branches.isEmpty, "Git keeps its pin: \(branches)")

        // Held and frozen: the next reconciles move nothing, even to repair.
        rig.fake.heal()
        let moves = rig.fake.moves.count
        rig.fake.lose("demo-prod")
        let (plan, next) = try await rig.apply()
        #expect(next.result == .nothingToDo, "\(plan.text)")
        #expect(plan.warnings.contains { $0.contains("demo@2 failed its rollout") && $0.contains("frozen: its targets stay as they are") }, "\(plan.warnings)")
        #expect(rig.fake.moves.count == moves)
    }

    @Test func withoutAutoRollbackAFailedWaveStaysAndIsTriedAgain() async throws {
        let project = try await Self.project(strategy: Self.waves, autoRollback: false)
        let rig = try Rig(project)
        _ = try await rig.apply()
        try await Self.pinV2(project, autoRollback: false)
        rig.fake.fail(deployOn: "node2", "node2 unreachable")
        let (_, report) = try await rig.apply()
        #expect(report.result == .failed)
        #expect(served(rig) == ["local v2", "node1 v2", "node2 v1"], "what moved stays")
        #expect(try rig.store.hold("demo-prod") == nil)
        rig.fake.heal()
        let (plan, again) = try await rig.apply()
        #expect(plan.actions.map(\.summary) == ["deploy Deployment/demo-prod demo@v1 -> v2: node2: pinned 2, serving 1"])
        #expect(again.result == .applied)
        #expect(served(rig) == ["local v2", "node1 v2", "node2 v2"])
    }

    @Test func aControllerStoppedInTheSecondWaveFinishesItWithoutRepeatingTheFirst() async throws {
        let strategy = "{ type: waves, waves: [[local, node1], [node2]] }"
        let project = try await Self.project(strategy: strategy)
        let rig = try Rig(project)
        _ = try await rig.apply()
        try await Self.pinV2(project, strategy: strategy)
        rig.fake.hang(deployOn: "node2", .afterStart)
        let reconciler = rig.reconciler()
        let (desired, plan) = try await reconciler.plan(try rig.source.fetch())
        let task = Task { try await reconciler.apply(plan, desired: desired, actor: "test") }
        try await eventually("node2's deploy started", timeout: .seconds(10)) {
            try rig.launch("deploy:demo-prod@node2:2")?.detail.isEmpty == false
        }
        task.cancel()
        #expect(try await task.value.result == .interrupted)
        let before = rig.fake.moves
        let (resumed, report) = try await rig.apply()
        #expect(report.result == .applied, "\(report.failed)")
        #expect(resumed.actions.map(\.summary) == ["deploy Deployment/demo-prod demo@v1 -> v2: node2: pinned 2, serving 1"])
        #expect(Array(rig.fake.moves.dropFirst(before.count)) == ["node2 v2"], "wave 1 is not repeated")
        #expect(served(rig) == ["local v2", "node1 v2", "node2 v2"])
        #expect(try rig.store.versions(of: "demo").count == 2, "v2 trained once")
    }

    @Test func aFailedRepairOfTheVersionThatServesIsTriedAgainNotHeld() async throws {
        let rig = try Rig(try await Self.project(strategy: Self.waves))
        _ = try await rig.apply()
        rig.fake.lose("demo-prod")
        rig.fake.fail(deployOn: "node1", "node1 is rebooting")
        let (_, failed) = try await rig.apply()
        #expect(failed.result == .failed)
        #expect(try rig.store.hold("demo-prod") == nil, "v1 serves everywhere else: nothing to hold or go back to")
        rig.fake.heal()
        let (plan, again) = try await rig.apply()
        #expect(plan.actions.map(\.summary) == ["deploy Deployment/demo-prod demo@v1 -> v1: node1: fake serves nothing (drift)"], "\(plan.text)")
        #expect(again.result == .applied)
        #expect(served(rig) == ["local v1", "node1 v1", "node2 v1"])
    }
}
