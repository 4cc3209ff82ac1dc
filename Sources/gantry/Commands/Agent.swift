import Agent
import ArgumentParser
import Foundation
import Lineage
import Listener
import Logging
import ServiceLifecycle
import State
import Targets

/// `gantry agent`: the on-prem node agent that `type: agent` targets talk to.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the on-prem node agent: training runs and serving processes on this node, for a controller.",
        discussion: """
            The agent answers a small REST API (docs/agent-openapi.yaml): blobs by
            digest, training runs, deployments, their logs. It keeps its own
            workspace and state under --dir; serving processes and training runs
            are detached and outlive the agent, which finds them again when it
            restarts. Every call but GET /v1/health needs a bearer token whose
            SHA-256 the token file lists; others are refused with 401.

            Examples:
              printf 'sha256:%s\\n' "$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)" > /etc/gantry/agent-tokens
              gantry agent --listen 0.0.0.0:7443 --token-file /etc/gantry/agent-tokens --dir /var/lib/gantry-agent
              gantry agent --listen 0.0.0.0:7443 --token-file /etc/gantry/agent-tokens \\
                --tls-cert /etc/gantry/agent.pem --tls-key /etc/gantry/agent.key --tls-client-ca /etc/gantry/ca.pem
            """)

    @Option(help: "The address to serve on, HOST:PORT.")
    var listen: String = "127.0.0.1:7443"

    @Option(name: .customLong("token-file"), help: "The accepted tokens' hashes, one sha256:<hex> per line.", completion: .file())
    var tokenFile: String

    @Option(help: "The agent's workspace and state directory.", completion: .directory)
    var dir: String = "/var/lib/gantry-agent"

    @OptionGroup var tls: TLSOptions
    @OptionGroup var snapshots: SnapshotOptions

    func run() async throws {
        let address = try ControllerCommand.parseAddress(listen)
        let tokens: AgentTokens
        do { tokens = try AgentTokens.load(path: tokenFile) } catch { throw ValidationError("\(error)") }
        let workspace = Workspace(root: dir)
        try FileManager.default.createDirectory(atPath: workspace.root, withIntermediateDirectories: true)
        let node = AgentNode(workspace: workspace, store: try StateStore(directory: workspace.root), snapshotRemote: try snapshots.snapshotRemote())
        LoggingSystem.bootstrap { label in StreamLogHandler.standardError(label: label) }
        let logger = Logger(label: "gantry.agent")
        var serverLogger = Logger(label: "gantry.agent.http")
        serverLogger.logLevel = .notice
        let tlsFiles = try tls.files()
        do { try tlsFiles?.check() } catch { throw ValidationError("\(error)") }
        let scheme = tlsFiles == nil ? "http" : "https"
        let app: any Service
        do {
            app = try AgentServer(node: node, tokens: tokens, version: GantryVersion.current)
                .application(host: address.host, port: address.port, logger: serverLogger, tls: tlsFiles) { port in
                    let mutual = tlsFiles?.clientCA != nil ? ", clients must show a certificate" : ""
                    logger.info("agent serving on \(scheme)://\(address.host):\(port), workspace \(workspace.root)\(mutual)")
                }
        } catch {
            throw ValidationError("\(error)")
        }
        var groupLogger = Logger(label: "gantry.lifecycle")
        groupLogger.logLevel = .warning
        try await ServiceGroup(
            configuration: .init(
                services: [app], gracefulShutdownSignals: [.sigterm, .sigint],
                logger: groupLogger)
        ).run()
    }
}
