import Foundation
import GantryTestSupport
import Source
import State
import Testing

@testable import Lineage
@testable import Planner

/// A plan brought up to date by revisiting only the objects whose inputs
/// changed must be the plan worked out from scratch, whatever changed.
@Suite struct IncrementalPlanTests {
    static func model(_ name: String, quality: Double) -> String {
        TestProject.model(name, quality: quality, extra: "  promotion: { policy: manual }")
    }

    static func deployment(_ name: String, model: String, version: Int) -> String {
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Deployment
        metadata: { name: \(name) }
        spec:
          model: \(model)
          version: \(version)
          address: 127.0.0.1:1
          serve: { command: [python3, serve.py, --port, "${port}"], workingDir: src }
          targets: [{ target: local }]
        """
    }

    @Test func revisitingTheChangedObjectsGivesThePlanWorkedOutFromScratch() async throws {
        let project = try await TestProject(port: freePort())
        for i in 1...3 { project.write("manifests/m\(i).yaml", Self.model("m\(i)", quality: 0.5)) }
        project.write("manifests/d1.yaml", Self.deployment("d1", model: "m1", version: 1))
        project.write("manifests/d2.yaml", Self.deployment("d2", model: "m2", version: 1))
        project.write("manifests/d3.yaml", Self.deployment("d3", model: "m3", version: 1))
        try await project.commit("More models")
        let h = try Harness(project)
        let memo = DesiredState.Memo()
        let now = Date()  // tests run side by side: a memo of its own

        var last: Planner.Worked?
        var revisits = 0
        /// Plans the branch's head both ways and returns the plan.
        @discardableResult
        func step(_ what: String, incremental: Bool = true) async throws -> Plan {
            let desired = await DesiredState.compute(try h.source.fetch(), fingerprinter: Fingerprinter(store: h.store), now: now, memo: memo)
            let observed = try await h.reconciler.observe(desired)
            let planner = Planner(desired: desired, observed: observed)
            let scratch = planner.workOutAll()
            if let previous = last {
                let revisited = planner.revisit(previous)
                #expect((revisited != nil) == incremental, "\(what): revisited")
                if let revisited {
                    revisits += 1
                    #expect(revisited.plan.actions == scratch.plan.actions, "\(what): actions")
                    #expect(revisited.plan.inSync == scratch.plan.inSync, "\(what): in sync")
                    #expect(revisited.plan.warnings == scratch.plan.warnings, "\(what): warnings")
                    #expect(revisited.plan.revision == scratch.plan.revision, "\(what): revision")
                    last = revisited
                    return revisited.plan
                }
            }
            last = scratch
            return scratch.plan
        }
        func register(_ plan: Plan, _ model: String, gatesPassed: Bool = true, promotion: String = "") throws {
            let lineage = try #require(plan.actions.first { $0.kind == .train && $0.model == model }?.lineage)
            _ = try h.store.registerVersion { n in
                var version = VersionRecord(
                    model: model, number: n, digest: lineage.digest, lineage: lineage.json, metrics: "{}",
                    artifactPath: "/nonexistent", artifactDigest: "sha256:00", commit: lineage.commit,
                    gatesPassed: gatesPassed, gateReport: gatesPassed ? "" : "accuracy 0.5 < 0.9", createdAt: Date())
                version.promotion = promotion
                return version
            }
        }

        let first = try await step("first plan", incremental: false)
        #expect(first.isValid, "\(first.diagnostics)")
        #expect(first.actions.filter { $0.kind == .train }.count == 4)

        // Versions appear: only those models and the Deployments pinning them.
        try register(first, "m1")
        try register(first, "m2", gatesPassed: false)
        let second = try await step("two versions registered")
        #expect(second.actions.filter { $0.kind == .train }.count == 2)

        // One model's manifest changes in Git.
        project.write("manifests/m3.yaml", Self.model("m3", quality: 0.7))
        try await project.commit("m3 trains for quality 0.7")
        try await step("one model edited")

        // A Deployment pins another model: both models' pins change.
        project.write("manifests/d1.yaml", Self.deployment("d1", model: "m2", version: 1))
        try await project.commit("d1 serves m2")
        let moved = try await step("a Deployment moved to another model")

        // m3 at v1 (d3 pins it) and at v2, whose pin bump failed: retried.
        try register(first, "m3")
        try register(moved, "m3", promotion: "failed: remote unreachable")
        let retried = try await step("a failed promotion recorded")
        #expect(retried.actions.contains { $0.kind == .promote && $0.model == "m3" && $0.version == 2 })

        // Git pins m3@2 by hand: nothing left to promote, although d3
        // still serves the same model.
        project.write("manifests/d3.yaml", Self.deployment("d3", model: "m3", version: 2))
        try await project.commit("d3 serves m3@2")
        let pinned = try await step("a Deployment pinned to another version of its model")
        #expect(!pinned.actions.contains { $0.kind == .promote && $0.model == "m3" })

        // Deployment records: one serving a pinned version (observed not to
        // run), one that Git does not declare (pruned).
        for (name, model) in [("d2", "m2"), ("gone", "m1")] {
            try h.store.save(
                DeploymentRecord(
                    name: name, model: model, version: 1, target: "local", address: "127.0.0.1:1",
                    specDigest: "sha256:00", commit: "c", updatedAt: Date()))
        }
        try await step("deployment records saved")

        // A commit outside the manifests: the same set at a new commit; the
        // trains carry the new commit.
        project.write("README.md", "The demo project.\n")
        try await project.commit("Say what the project is")
        let outside = try await step("a commit outside the manifests")
        #expect(outside.actions.filter { $0.kind == .train }.allSatisfy { $0.lineage?.commit == outside.revision.commit })

        // A new file: the names change, and the plan is worked out afresh.
        project.write("manifests/m4.yaml", Self.model("m4", quality: 0.5))
        try await project.commit("Add m4")
        try await step("a model added", incremental: false)
        #expect(revisits == 7)
        await h.tearDown()
    }
}
