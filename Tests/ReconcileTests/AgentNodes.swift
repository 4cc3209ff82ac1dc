import Foundation
import GantryTestSupport
import HTTP
import Processes

@testable import Lineage
@testable import State
@testable import Targets

/// A `gantry agent` on 127.0.0.1 standing in for an on-prem node: the built
/// gantry binary, its own port and directory, the test token's hash.
final class NodeAgent: @unchecked Sendable {
    static let token = "agent-test-token-7f3a/+="

    let name: String
    let port: Int
    let directory: String
    let child: ChildProcess
    /// Set when the agent serves https: what a client trusts and shows.
    let tls: TLSClientFiles?
    var endpoint: String { "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)" }

    private init(name: String, port: Int, directory: String, child: ChildProcess, tls: TLSClientFiles?) {
        self.name = name
        self.port = port
        self.directory = directory
        self.child = child
        self.tls = tls
    }

    /// Starts an agent; with `directory` and `port` of an earlier one, the
    /// same node comes back.
    static func start(
        _ name: String, port: Int = freePort(), directory: String? = nil,
        certificates: TestCertificates? = nil, arguments: [String] = [], environment: [String: String] = [:]
    ) async throws -> NodeAgent {
        let home = directory.map { ($0 as NSString).deletingLastPathComponent } ?? makeTemporaryDirectory("gantry-node-\(name)")
        let directory = directory ?? home + "/agent"
        let tokens = home + "/tokens"
        try ("# the test token\nsha256:" + Digest.sha256(token) + "\n").write(toFile: tokens, atomically: true, encoding: .utf8)
        let log = home + "/\(name)-agent.log"
        // With certificates: https, and clients must show one the CA signed.
        let tlsArguments =
            certificates.map {
                ["--tls-cert", $0.serverCertificate, "--tls-key", $0.serverKey, "--tls-client-ca", $0.ca]
            } ?? []
        let child = try ChildProcess.spawn(
            ProcessSpec(
                argv: [gantryExecutable, "agent", "--listen", "127.0.0.1:\(port)", "--token-file", tokens, "--dir", directory] + tlsArguments
                    + arguments,
                environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, workingDirectory: home, logPath: log))
        let tls = certificates.map { TLSClientFiles(caFile: $0.ca, certificateFile: $0.clientCertificate, keyFile: $0.clientKey) }
        let agent = NodeAgent(name: name, port: port, directory: directory, child: child, tls: tls)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline, child.exitStatus == nil {
            if let r = try? await HTTPClient.shared.send(HTTPRequest(url: agent.endpoint + "/v1/health", timeout: .seconds(1), tls: tls)),
                r.status == 200
            {
                return agent
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        _ = await child.terminate(grace: .seconds(2))
        throw PeerError(
            description: "gantry agent (\(gantryExecutable)) did not answer on port \(port): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    func stop() async { _ = await child.terminate(grace: .seconds(5)) }

    /// The agent's API as the test calls it.
    func client(token: String? = NodeAgent.token) -> RESTClient {
        var client = RESTClient(baseURL: endpoint, auth: token.map { .bearer($0) } ?? .none, retry: .none)
        client.tls = tls
        return client
    }

    /// Stops whatever this node serves, through its own files, whether the
    /// agent still runs or not.
    func stopServing() async {
        guard let store = try? StateStore(directory: directory) else { return }
        let local = LocalTarget(workspace: Workspace(root: directory, executable: gantryExecutable))
        for record in (try? store.deployments()) ?? [] { try? await local.stop(record) }
    }

    /// A Target manifest naming this node.
    func target(tokenFile: String) -> String {
        let tlsLines = tls.map { "\n  caFile: \($0.caFile!)" } ?? ""
        let client = tls.map { ", clientCertificate: { file: \($0.certificateFile!) }, clientKey: { file: \($0.keyFile!) }" } ?? ""
        return """
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: \(name) }
            spec:
              type: agent
              endpoint: \(endpoint)
              credentials: { token: { file: \(tokenFile) }\(client) }\(tlsLines)
            ---

            """
    }
}
