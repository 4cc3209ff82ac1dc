import Testing

@testable import Manifests

@Suite struct PinEditorTests {
    let file = """
        # Production serving for churn.
        apiVersion: gantry.dev/v1alpha1
        kind: Deployment
        metadata: { name: churn-canary }
        spec: { model: churn, version: 3, serve: { command: [x] }, targets: [{ target: local }] }
        ---
        apiVersion: gantry.dev/v1alpha1
        kind: Deployment
        metadata:
          name: churn-prod
        spec:
          model: churn
          version: 3   # bumped by gantry
          serve: { command: [x] }
          targets: [{ target: local }]

        """

    @Test func onlyTheNumberOfTheNamedDeploymentChanges() throws {
        let out = try PinEditor.setVersion(12, deployment: "churn-prod", in: Array(file.utf8), file: "d.yaml")
        #expect(String(decoding: out, as: UTF8.self) == file.replacingOccurrences(of: "  version: 3   #", with: "  version: 12   #"))
        let flow = try PinEditor.setVersion(4, deployment: "churn-canary", in: Array(file.utf8), file: "d.yaml")
        #expect(String(decoding: flow, as: UTF8.self) == file.replacingOccurrences(of: "model: churn, version: 3,", with: "model: churn, version: 4,"))
    }

    @Test func anUnknownDeploymentIsAnError() {
        #expect(throws: PinEditor.Failure.self) { try PinEditor.setVersion(2, deployment: "nope", in: Array(file.utf8), file: "d.yaml") }
    }
}
