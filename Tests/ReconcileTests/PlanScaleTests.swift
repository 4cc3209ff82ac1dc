import Foundation
import GantryTestSupport
import Testing

@testable import Lineage
@testable import Planner

/// Joins in the planner are indexed, not scans: counted in operations at
/// two fleet sizes, never timed.
@Suite(.serialized) struct PlanScaleTests {
    /// A project of `n` Models with a promotion policy, none trained yet, and
    /// a Deployment pinning each: every model plans a train and asks which
    /// versions Git pins for it.
    func deploymentsRead(models n: Int) async throws -> (visits: Int, trains: Int) {
        let project = try await TestProject(port: freePort())
        var models: [String] = []
        var deployments: [String] = []
        for i in 0..<n {
            models.append(IncrementalPlanTests.model("m\(i)", quality: 0.5))
            deployments.append(IncrementalPlanTests.deployment("d\(i)", model: "m\(i)", version: 1))
        }
        project.write("manifests/models.yaml", models.joined(separator: "\n---\n"))
        project.write("manifests/deployments.yaml", deployments.joined(separator: "\n---\n"))
        project.remove("manifests/deployment.yaml")
        project.remove("manifests/model.yaml")
        try await project.commit("\(n) models")
        let h = try Harness(project)
        let desired = await DesiredState.compute(try h.source.fetch(), fingerprinter: Fingerprinter(store: h.store), memo: DesiredState.Memo())
        let observed = try await h.reconciler.observe(desired)
        let planner = Planner(desired: desired, observed: observed)
        let plan = planner.plan()
        #expect(plan.isValid, "\(plan.diagnostics.prefix(3))")
        return (planner.pinIndex.visits, plan.actions.filter { $0.kind == .train }.count)
    }

    @Test func pinnedVersionsAreLookedUpNotScannedPerModel() async throws {
        let small = try await deploymentsRead(models: 40)
        let large = try await deploymentsRead(models: 400)
        #expect(small.trains == 40 && large.trains == 400)
        // Each Deployment is read once per plan, whatever the number of
        // models asking (a scan per model read 40 x 40 and 400 x 400).
        #expect(small.visits == 40, "\(small)")
        #expect(large.visits == 400, "\(large)")
    }
}
