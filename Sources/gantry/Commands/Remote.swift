import ArgumentParser
import Foundation
import HTTP
import Manifests
import Reconciler

/// Where a running controller's API is, and the token to call it with.
struct ServerOptions: ParsableArguments {
    @Option(help: "A running controller's URL, such as https://gantry.internal:8443 (default: $GANTRY_SERVER).")
    var server: String?

    @Option(name: .customLong("token-file"), help: "A file holding the API token (default: $GANTRY_TOKEN).", completion: .file())
    var tokenFile: String?

    @Option(name: .customLong("ca-file"), help: "For https: the PEM CA that signed the controller's certificate.", completion: .file())
    var caFile: String?

    func client() throws -> RESTClient {
        let environment = ProcessInfo.processInfo.environment
        guard let server = server ?? environment["GANTRY_SERVER"], !server.isEmpty else {
            throw ValidationError("name the controller: --server URL or GANTRY_SERVER")
        }
        guard server.hasPrefix("http://") || server.hasPrefix("https://") else {
            throw ValidationError("--server \(server): a URL starting with http:// or https://")
        }
        var token = environment["GANTRY_TOKEN"]
        if let tokenFile {
            do {
                token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw ValidationError("--token-file \(tokenFile): cannot be read (\(error.localizedDescription))")
            }
        }
        var client = RESTClient(
            baseURL: server.hasSuffix("/") ? String(server.dropLast()) : server, auth: token.map { .bearer($0) } ?? .none, retry: .none,
            timeout: .seconds(30))
        client.tls = caFile.map { TLSClientFiles(caFile: $0) }
        return client
    }

    /// A client for `server` (else `GANTRY_SERVER`), with the token from
    /// `GANTRY_TOKEN`: for commands whose own `--token-file` is Git's.
    static func client(for server: String?) throws -> RESTClient {
        var options = try ServerOptions.parse([])
        options.server = server
        return try options.client()
    }
}

/// A running controller for a command that also reads Git (whose
/// `--token-file` is Git's): the URL by `--server` or `GANTRY_SERVER`, the
/// token from `GANTRY_TOKEN`.
struct ControllerOptions: ParsableArguments {
    @Option(
        name: .customLong("server"),
        help: "Act through this running controller's API, which wakes it (default: $GANTRY_SERVER); its token comes from $GANTRY_TOKEN.")
    var server: String?

    var named: Bool { !(server ?? ProcessInfo.processInfo.environment["GANTRY_SERVER"] ?? "").isEmpty }

    func client() throws -> RESTClient { try ServerOptions.client(for: server) }
}

/// What the controller answers to an action.
struct RemoteActionResult: Codable {
    var accepted: Bool
    var message: String
    var rollback: RollbackResult?
}

/// Calls the controller and says what it answered; a refusal (401, 403,
/// 404) is an error with the controller's reason.
func remoteAction(_ options: ServerOptions, _ path: String, body: [String: String]? = nil, output: OutputFormat) async throws {
    let client = try options.client()
    let result: RemoteActionResult
    do {
        result = try await client.post(path, json: body ?? [:], idempotent: false)
    } catch {
        printError("error: \(error)")
        throw ExitCode(1)
    }
    if output.isData { return try printData(output, result) }
    print(result.message)
}

struct Refresh: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a running controller fetch and reconcile now.",
        discussion: """
            Needs an operator token. Like `flux reconcile`: the call returns
            when the controller has accepted it; `gantry wait` follows what
            comes of it.

            Examples:
              GANTRY_SERVER=https://gantry.internal:8443 GANTRY_TOKEN=… gantry refresh
              gantry refresh --server http://127.0.0.1:8080 --token-file ~/.gantry-token
            """)

    @OptionGroup var server: ServerOptions
    @OptionGroup var format: FormatOptions

    func run() async throws {
        try await remoteAction(server, "/api/v1/refresh", output: format.output)
    }
}

/// `Model/churn`, `deployment/churn-prod`: a kind and a name.
struct ObjectName: ExpressibleByArgument, CustomStringConvertible {
    var kind: String
    var name: String
    var path: String { kind == "Model" ? "models" : "deployments" }
    var description: String { "\(kind)/\(name)" }

    init?(argument: String) {
        let parts = argument.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[1].isEmpty else { return nil }
        switch parts[0].lowercased() {
        case "model", "models": kind = "Model"
        case "deployment", "deployments": kind = "Deployment"
        default: return nil
        }
        name = parts[1]
    }
}

struct Suspend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a running controller leave a Model or Deployment alone until it is resumed.",
        discussion: """
            A suspended Model is not retrained or promoted; a suspended
            Deployment is not deployed, repaired or pruned. Needs an operator
            token; recorded in the audit log.

            Example:
              gantry suspend deployment/churn-prod --reason "load test until 17:00"
            """)

    @OptionGroup var server: ServerOptions
    @OptionGroup var format: FormatOptions
    @Argument(help: "model/NAME or deployment/NAME.") var object: ObjectName
    @Option(help: "Why, for the audit log and the plan's warning.") var reason: String = ""

    func run() async throws {
        try await remoteAction(server, "/api/v1/\(object.path)/\(object.name)/suspend", body: ["reason": reason], output: format.output)
    }
}

struct Resume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a running controller reconcile a suspended Model or Deployment again.",
        discussion: """
            Example:
              gantry resume deployment/churn-prod
            """)

    @OptionGroup var server: ServerOptions
    @OptionGroup var format: FormatOptions
    @Argument(help: "model/NAME or deployment/NAME.") var object: ObjectName

    func run() async throws {
        try await remoteAction(server, "/api/v1/\(object.path)/\(object.name)/resume", output: format.output)
    }
}

struct Wait: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Wait until a running controller reports an object synced (and healthy).",
        discussion: """
            Polls the controller's API (a viewer token is enough). With
            --commit, waits first for the controller to have planned that
            commit, so that a change just pushed is what is waited for. Exits 0
            when the condition holds, 2 when --timeout passes first (saying
            where the object stands), 1 on an error.

            Examples:
              git push && gantry refresh && gantry wait deployment/churn-prod --for healthy --commit "$(git rev-parse HEAD)"
              gantry wait model/churn --for synced --timeout 30m
            """)

    enum Condition: String, ExpressibleByArgument, CaseIterable {
        case synced, healthy
    }

    @OptionGroup var server: ServerOptions
    @Argument(help: "model/NAME or deployment/NAME.") var object: ObjectName
    @Option(name: .customLong("for"), help: "synced, or healthy (synced and every target healthy; Deployments).") var condition: Condition = .synced
    @Option(help: "Give up after this long, such as 90s or 10m.") var timeout: String = "5m"
    @Option(help: "The commit (or its prefix) the controller must have planned first.") var commit: String?
    @Option(help: "Time between polls.") var interval: String = "1s"

    struct NotDeclared: Error, CustomStringConvertible {
        var description: String
    }

    struct Status: Decodable {
        struct Revision: Decodable { var commit: String }
        var revision: Revision?
    }

    struct Object: Decodable {
        struct State: Decodable {
            var status: String
            var detail: String
        }
        var kind: String
        var name: String
        var sync: State
        var health: State?
    }

    func run() async throws {
        guard let limit = Self.duration(timeout) else { throw ValidationError("--timeout \(timeout): a duration such as 90s or 10m") }
        guard let gap = Self.duration(interval), gap > .zero else { throw ValidationError("--interval \(interval): a duration such as 1s") }
        if condition == .healthy, object.kind == "Model" {
            throw ValidationError("--for healthy applies to Deployments (a Model is synced or not)")
        }
        let client = try server.client()
        let deadline = ContinuousClock.now + limit
        var seen = "no answer yet"
        while true {
            do {
                seen = try await check(client)
                if seen.isEmpty {
                    print("\(object): \(condition.rawValue)")
                    return
                }
            } catch let error as NotDeclared {
                printError("error: \(error)")
                throw ExitCode(1)
            } catch let error as HTTPStatusError where [401, 403, 404].contains(error.status) {
                printError("error: \(error)")
                throw ExitCode(1)
            } catch {
                seen = "the controller does not answer: \(error)"
            }
            if ContinuousClock.now + gap > deadline {
                printError("timed out after \(timeout) waiting for \(object) to be \(condition.rawValue): \(seen)")
                throw ExitCode(2)
            }
            try await Task.sleep(for: gap)
        }
    }

    /// Empty when the condition holds, else where the object stands.
    func check(_ client: RESTClient) async throws -> String {
        if let commit {
            let status: Status = try await client.get("/api/v1/status")
            guard let planned = status.revision?.commit, planned.hasPrefix(commit) || commit.hasPrefix(planned) else {
                return "the controller has planned \(status.revision.map { String($0.commit.prefix(12)) } ?? "nothing"), not \(commit.prefix(12)) yet"
            }
        }
        let objects: [Object] = try await client.get("/api/v1/objects")
        guard let found = objects.first(where: { $0.kind == object.kind && $0.name == object.name }) else {
            throw NotDeclared(description: "the controller has no \(object) (see GET /api/v1/objects)")
        }
        guard found.sync.status == "Synced" else { return "\(found.sync.status): \(found.sync.detail)" }
        if condition == .healthy, let health = found.health, health.status != "Healthy" {
            return "Synced, \(health.status): \(health.detail)"
        }
        return ""
    }

    /// `90s`, `10m`, `1h`, `500ms`: a manifest's duration.
    static func duration(_ text: String) -> Duration? { TimeSpan(parsing: text)?.duration }
}
