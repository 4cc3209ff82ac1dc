import Foundation
import GantryTestSupport
import HTTP
import Processes
import Testing

@testable import Reconciler
@testable import State
@testable import Targets

/// An agent that speaks https and admits only controllers whose client
/// certificate its CA signed.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct AgentTLSTests {
    @Test func overMutualTLSTheControllerTrainsAndServesAndStrangersAreRefusedInTheHandshake() async throws {
        let certs = try await TestCertificates.make()
        let node = try await NodeAgent.start("secure-node", certificates: certs)
        do {
            let health = node.endpoint + "/v1/health"
            // Plain HTTP, no client certificate, a stranger's, and an
            // unknown server CA: none gets an answer from the API.
            await #expect(throws: HTTPError.self) {
                try await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:\(node.port)/v1/health", timeout: .seconds(3)))
            }
            await #expect(throws: HTTPError.self) {
                try await HTTPClient.shared.send(HTTPRequest(url: health, timeout: .seconds(3), tls: TLSClientFiles(caFile: certs.ca)))
            }
            await #expect(throws: HTTPError.self) {
                try await HTTPClient.shared.send(
                    HTTPRequest(
                        url: health, timeout: .seconds(3),
                        tls: TLSClientFiles(
                            caFile: certs.ca, certificateFile: certs.strangerCertificate, keyFile: certs.strangerKey)))
            }
            await #expect(throws: HTTPError.self) {
                try await HTTPClient.shared.send(
                    HTTPRequest(
                        url: health, timeout: .seconds(3),
                        tls: TLSClientFiles(
                            certificateFile: certs.clientCertificate, keyFile: certs.clientKey)))
            }
            #expect(try await HTTPClient.shared.send(HTTPRequest(url: health, tls: node.tls)).status == 200)

            // A Target with the CA and the client certificate: a whole reconcile.
            let project = try await TestProject(port: freePort())
            let tokenFile = makeTemporaryDirectory("agent-token") + "/token"
            try NodeAgent.token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
            project.write("manifests/targets.yaml", node.target(tokenFile: tokenFile))
            project.write(
                "manifests/model.yaml",
                try String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8)
                    .replacingOccurrences(of: "target: local", with: "target: secure-node"))
            project.write(
                "manifests/deployment.yaml",
                project.deployment(version: 1)
                    .replacingOccurrences(of: "{ target: local }", with: "{ target: secure-node }"))
            try await project.commit("Train and serve on a node over mutual TLS")
            let harness = try Harness(project)
            let (plan, report) = try await harness.apply()
            #expect(plan.isValid, "\(plan.diagnostics)")
            #expect(report.ok, "\(report.failed.map(\.error))")
            #expect(try await harness.get().contains(#""version": "1""#))
            #expect(try await harness.plan().actions.isEmpty, "observed healthy over https")
        } catch {
            await node.stopServing()
            await node.stop()
            throw error
        }
        await node.stopServing()
        await node.stop()
    }

    @Test func anAgentWhoseCertificateCannotBeReadRefusesToStart() async throws {
        let certs = try await TestCertificates.make()
        let tokens = makeTemporaryDirectory("agent-tokens") + "/tokens"
        try "sha256:\(String(repeating: "0", count: 64))\n".write(toFile: tokens, atomically: true, encoding: .utf8)
        let result = try await gantry(
            [
                "agent", "--listen", "127.0.0.1:\(freePort())", "--token-file", tokens, "--dir", makeTemporaryDirectory("agent"),
                "--tls-cert", certs.directory + "/missing.pem", "--tls-key", certs.serverKey,
            ], timeout: .seconds(30))
        #expect(result.status == .exited(64))
        #expect(result.output.contains("cannot read a PEM certificate chain from \(certs.directory)/missing.pem"))
    }
}
