import Foundation
import GantryTestSupport
import Testing

@testable import Planner

/// An address something else already holds is said by the plan, with the
/// manifest line that declares it, before anything trains.
@Suite(.serialized) struct AddressCheckTests {
    @Test func anAddressAnotherProcessHoldsIsNamedByThePlanWithItsLine() async throws {
        let project = try await TestProject(port: freePort())
        let harness = try Harness(project)
        defer { Task { await harness.tearDown() } }
        let squatter = try FaultServer { _ in .status(200) }
        // FaultServer listens on a port of its own: pin the Deployment there.
        project.write("manifests/deployment.yaml", project.deployment(version: 1).replacingOccurrences(of: ":\(project.port)", with: ":\(squatter.port)"))
        try await project.commit("Serve where something already listens")

        let plan = try await harness.plan()
        #expect(plan.actions.map(\.kind) == [.train, .deploy])
        let expected =
            "Deployment/demo-prod: deploy on target local will fail: address 127.0.0.1:\(squatter.port) (spec.address at manifests/deployment.yaml:7:12) is already in use by another process"
        #expect(plan.warnings.contains(expected), "\(plan.warnings)")

        // Freed, the warning goes; once this Deployment's own forwarder
        // holds the address, it is no warning either.
        squatter.stop()
        #expect(try await harness.plan().warnings.isEmpty)
        #expect(try await harness.apply().report.result == .applied)
        project.write(
            "manifests/deployment.yaml",
            project.deployment(version: 1).replacingOccurrences(of: ":\(project.port)", with: ":\(squatter.port)")
                .replacingOccurrences(of: "workingDir: src", with: "workingDir: src\n    env: { CHANGED: \"1\" }"))
        try await project.commit("A new serve spec: a deploy at the same address")
        let redeploy = try await harness.plan()
        #expect(redeploy.actions.map(\.kind) == [.deploy], "\(redeploy.text)")
        #expect(redeploy.warnings.isEmpty, "its own forwarder holds it: \(redeploy.warnings)")
    }
}
