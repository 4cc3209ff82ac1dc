import ArgumentParser
import Controller
import Foundation
import Lineage
import Listener
import Logging
import Manifests
import Reconciler
import Server
import ServiceLifecycle
import Source
import Telemetry
import Tracing

struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Follow a repository and reconcile continuously; serve the API and dashboard.",
        discussion: """
            Every interval, or at once on a webhook push or an API refresh: fetch,
            plan, and apply when there is something to do (a new commit, a changed
            dataset, drift such as a serving process that died). An invalid commit
            is recorded and shown; the last good one keeps running. SIGTERM or
            SIGINT stops taking work, lets the action under way finish, and exits.

            With --listen, the controller serves the HTTP API (docs/api.md), the
            webhook receivers, the dashboard, /metrics, /healthz and /readyz.

            Examples:
              gantry controller --repo git://git.internal/models.git --branch main --interval 30s
              gantry controller --repo . --path examples/quickstart --interval 10s \\
                --listen 127.0.0.1:8080 --tokens /etc/gantry/tokens.yaml --webhook-secret-env GANTRY_WEBHOOK_SECRET
            """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions

    @Option(help: "Time between reconciles, such as 30s or 5m.")
    var interval: String = "30s"

    @Option(help: "Stop after this many reconcile loops (0: run until stopped).")
    var iterations: Int = 0

    @Option(name: .customLong("log-format"), help: "Log lines as text or json.")
    var logFormat: OutputFormat = .text

    @Option(help: "Serve the API, webhooks, dashboard and metrics on HOST:PORT, such as 127.0.0.1:8080.")
    var listen: String?

    @OptionGroup var tls: TLSOptions
    @OptionGroup var snapshots: SnapshotOptions

    @Option(help: "The API tokens: a YAML or JSON list of {name, role, sha256} (see docs/api.md).", completion: .file())
    var tokens: String?

    @Option(name: .customLong("webhook-secret-env"), help: "The environment variable holding the webhook secret.")
    var webhookSecretEnv: String?

    @Option(
        name: .customLong("web-url"),
        help: ArgumentHelp(
            "The repository's web page on its forge, such as https://github.com/org/models, for the dashboard's links to branches that await review.",
            discussion: "Default: derived from an https or ssh --repo URL; none for file:// and git://."))
    var webURL: String?

    @Option(
        help: ArgumentHelp(
            "POST generic JSON notifications (sync failure, retrain, promotion, rollback) to a URL read from env:NAME or file:PATH; repeatable.",
            discussion: "A webhook URL is a secret; on the command line it would show in ps, so it is named, not given."))
    var notify: [String] = []

    @Option(
        name: .customLong("otlp-endpoint"),
        help: ArgumentHelp(
            "Send OpenTelemetry traces (a span per reconcile, fetch, plan, apply, action and API request) to this OTLP/HTTP collector, such as http://127.0.0.1:4318.",
            discussion: "Default: $OTEL_EXPORTER_OTLP_ENDPOINT. Spans are posted as JSON to <endpoint>/v1/traces every second."))
    var otlpEndpoint: String?

    @Option(
        name: .customLong("notify-slack"), help: "POST Slack-compatible notifications to an incoming-webhook URL read from env:NAME or file:PATH; repeatable.")
    var notifySlack: [String] = []

    /// The URL a `--notify` value names: `env:NAME` or `file:PATH`. A URL
    /// written out is refused, because every user of the machine can read
    /// a process's arguments.
    static func receiverURL(_ reference: String, flag: String) throws -> String {
        let ref: SecretRef
        if reference.hasPrefix("env:") {
            ref = SecretRef(env: String(reference.dropFirst(4)))
        } else if reference.hasPrefix("file:") {
            ref = SecretRef(file: String(reference.dropFirst(5)))
        } else {
            throw ValidationError("\(flag) takes env:NAME or file:PATH, naming where the URL is kept; a URL on the command line shows in ps")
        }
        let url: String
        do { url = try ref.read() } catch { throw ValidationError("\(flag) \(reference): \(error)") }
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
            throw ValidationError("\(flag) \(reference): the value is not an http(s) URL")
        }
        return url
    }

    func run() async throws {
        guard let period = TimeSpan(parsing: interval) else {
            throw ValidationError("invalid --interval \(interval); write 30s, 5m, 1h")
        }
        let address = try listen.map(Self.parseAddress)
        let tlsFiles = try tls.files()
        if tlsFiles != nil, address == nil { throw ValidationError("--tls-cert serves the API over https: it needs --listen") }
        if let webURL, !(webURL.hasPrefix("https://") || webURL.hasPrefix("http://")) || GantryServer.FollowedSource.page(webURL) == nil {
            throw ValidationError("--web-url \(webURL): the repository's page, such as https://github.com/org/models")
        }
        if webURL != nil, address == nil { throw ValidationError("--web-url is for the dashboard's links: it needs --listen") }
        do { try tlsFiles?.check() } catch { throw ValidationError("\(error)") }
        let secret = try webhookSecretEnv.map { name -> String in
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                throw ValidationError("--webhook-secret-env \(name): the variable is not set")
            }
            return value
        }
        let tokenFile: TokenFile
        do { tokenFile = try tokens.map(TokenFile.load(path:)) ?? TokenFile(entries: []) } catch {
            throw ValidationError("\(error)")
        }
        if address != nil && tokens == nil {
            printError("warning: no --tokens file; every API call and dashboard page will answer 401")
        }
        let json = logFormat == .json
        let generic = try notify.map { try Self.receiverURL($0, flag: "--notify") }
        let slack = try notifySlack.map { try Self.receiverURL($0, flag: "--notify-slack") }
        let redactor = Redactor(secrets: [secret].compactMap { $0 } + generic + slack)
        LoggingSystem.bootstrap { label in LogLines(label: label, json: json, redactor: redactor) }
        let logger = Logger(label: "gantry.controller")

        let git = try source.source(state: state)
        let reconciler = Reconciler(
            store: try state.store(), workspace: state.workspace, writeBack: git,
            author: source.author, snapshotRemote: try snapshots.snapshotRemote(), log: { logger.info("\($0)") })
        let metrics = ControllerMetrics(version: GantryVersion.current)
        let notifier = Notifier(
            receivers: generic.map { .init(url: $0, format: .generic) } + slack.map { .init(url: $0, format: .slack) },
            logger: logger)
        let loop = ControllerLoop(
            source: git, reconciler: reconciler, status: ControllerStatus(source: git.name), metrics: metrics,
            notifier: notifier, configuration: .init(interval: period.duration, iterations: iterations), logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        // First in the group, so it stops last and sends the loop's last spans.
        if let endpoint = otlpEndpoint ?? ProcessInfo.processInfo.environment["OTEL_EXPORTER_OTLP_ENDPOINT"], !endpoint.isEmpty {
            guard endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://") else {
                throw ValidationError("--otlp-endpoint \(endpoint): an http(s) URL, such as http://127.0.0.1:4318")
            }
            let traceLogger = Logger(label: "gantry.traces")
            let exporter = OTLPExporter(endpoint: endpoint, version: GantryVersion.current) { traceLogger.warning("\($0)") }
            InstrumentationSystem.bootstrap(OTLPTracer(exporter: exporter))
            services.append(.init(service: exporter))
        }
        services.append(
            .init(service: loop, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))
        if let address {
            let server = GantryServer(
                reconciler: reconciler, status: loop.status, wakeup: loop.wakeup, metrics: metrics,
                tokens: tokenFile, webhookSecret: secret,
                source: .init(location: git.location, ref: git.ref, web: webURL), notifier: notifier)
            var serverLogger = Logger(label: "gantry.server")
            serverLogger.logLevel = .notice
            let scheme = tlsFiles == nil ? "http" : "https"
            services.append(
                .init(
                    service: try server.application(
                        host: address.host, port: address.port, logger: serverLogger,
                        tls: tlsFiles
                    ) { port in
                        logger.info("serving", metadata: ["address": "\(scheme)://\(address.host):\(port)"])
                    }))
        }
        var groupLogger = Logger(label: "gantry.lifecycle")
        groupLogger.logLevel = .warning
        // The HTTP server is last, so on SIGTERM it stops taking requests
        // first; the loop then finishes the action under way.
        let group = ServiceGroup(
            configuration: .init(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                logger: groupLogger))
        try await group.run()
        logger.info("controller stopped")
    }

    static func parseAddress(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("invalid --listen \(text); write HOST:PORT, such as 127.0.0.1:8080")
        }
        let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }
}
