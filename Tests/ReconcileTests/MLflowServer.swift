import Foundation
import GantryTestSupport
import HTTP
import Processes
import Testing

extension Peers {
    /// `GANTRY_MLFLOW` (the `mlflow` command), else `mlflow` on PATH, else
    /// the venv's.
    static func mlflow() throws -> String {
        let install = "run scripts/peers (it installs mlflow into \(venv)), or set GANTRY_MLFLOW to an mlflow executable"
        if let given = environment["GANTRY_MLFLOW"], !given.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: given) else {
                throw PeerError(description: "GANTRY_MLFLOW=\(given) is not an executable; unset it or \(install)")
            }
            return given
        }
        let candidates = (environment["PATH"] ?? "").split(separator: ":").map { "\($0)/mlflow" } + [venv + "/bin/mlflow"]
        if let found = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) { return found }
        throw PeerError(description: "mlflow not found (GANTRY_MLFLOW, PATH, \(venv)/bin): \(install)")
    }
}

/// A real MLflow tracking server on 127.0.0.1 with a model registry in
/// SQLite and artifacts proxied to a temporary directory. It takes seconds
/// to start, so a suite shares one (``SharedMLflowServer``) and each test
/// uses its own model names.
final class MLflowServer: @unchecked Sendable {
    let endpoint: String
    let child: ChildProcess
    let directory: String
    let log: String

    private init(endpoint: String, child: ChildProcess, directory: String, log: String) {
        self.endpoint = endpoint
        self.child = child
        self.directory = directory
        self.log = log
    }

    static func start() async throws -> MLflowServer {
        let executable = try Peers.mlflow()
        let port = freePort()
        let directory = makeTemporaryDirectory("mlflow")
        let log = directory + "/mlflow.log"
        var environment = Peers.environment
        environment["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        let child = try ChildProcess.spawn(
            ProcessSpec(
                argv: [
                    executable, "server", "--host", "127.0.0.1", "--port", "\(port)", "--workers", "1",
                    "--backend-store-uri", "sqlite:///\(directory)/mlflow.db", "--artifacts-destination", directory + "/artifacts",
                ],
                environment: environment, workingDirectory: directory, logPath: log))
        let server = MLflowServer(endpoint: "http://127.0.0.1:\(port)", child: child, directory: directory, log: log)
        // About 8 s on an idle machine; much longer while others compile.
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if child.exitStatus != nil { break }
            if let answer = try? await HTTPClient.shared.send(HTTPRequest(url: server.endpoint + "/health", timeout: .seconds(2))),
                answer.status == 200
            {
                return server
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        _ = await child.terminate(grace: .seconds(5))
        throw PeerError(
            description: "mlflow server (\(executable)) did not answer on port \(port): "
                + String(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(2000)))
    }

    func stop() async { _ = await child.terminate(grace: .seconds(10)) }

    /// The registry's REST API, for what a person would do by hand.
    var api: RESTClient { RESTClient(baseURL: endpoint + "/api/2.0/mlflow") }

    struct Tag: Decodable {
        var key: String
        var value: String
    }
    struct Version: Decodable {
        var version: String
        var runID: String?
        var source: String?
        var tags: [Tag]?
        enum CodingKeys: String, CodingKey { case version, source, tags, runID = "run_id" }
        func tag(_ key: String) -> String? { tags?.first { $0.key == key }?.value }
    }

    /// Every version of `model`, oldest first.
    func versions(of model: String) async throws -> [Version] {
        struct Page: Decodable {
            var modelVersions: [Version]?
            enum CodingKeys: String, CodingKey { case modelVersions = "model_versions" }
        }
        let page: Page = try await api.get("/model-versions/search", query: [("filter", "name = '\(model)'"), ("max_results", "1000")])
        return (page.modelVersions ?? []).sorted { Int($0.version) ?? 0 < Int($1.version) ?? 0 }
    }

    /// The MLflow version `alias` points at, or nil when it is not set.
    func alias(_ alias: String, of model: String) async throws -> String? {
        struct Model: Decodable {
            struct Alias: Decodable {
                var alias: String
                var version: String
            }
            var aliases: [Alias]?
        }
        struct Answer: Decodable {
            var registeredModel: Model
            enum CodingKeys: String, CodingKey { case registeredModel = "registered_model" }
        }
        let answer: Answer = try await api.get("/registered-models/get", query: [("name", model)])
        return answer.registeredModel.aliases?.first { $0.alias == alias }?.version
    }

    /// Moves `alias` by hand, as someone in the MLflow UI would.
    func setAlias(_ alias: String, of model: String, to version: String) async throws {
        try await api.sendJSON("POST", "/registered-models/alias", json: ["name": model, "alias": alias, "version": version])
    }

    /// The runs of the `gantry` experiment tagged with `model`.
    func runs(of model: String) async throws -> [String] {
        struct Experiment: Decodable {
            struct Inner: Decodable {
                var experimentID: String
                enum CodingKeys: String, CodingKey { case experimentID = "experiment_id" }
            }
            var experiment: Inner
        }
        struct Search: Encodable {
            var experimentIDs: [String]
            var filter: String
            enum CodingKeys: String, CodingKey { case filter, experimentIDs = "experiment_ids" }
        }
        struct Runs: Decodable {
            struct Run: Decodable {
                struct Info: Decodable {
                    var runID: String
                    enum CodingKeys: String, CodingKey { case runID = "run_id" }
                }
                var info: Info
            }
            var runs: [Run]?
        }
        let experiment: Experiment = try await api.get("/experiments/get-by-name", query: [("experiment_name", "gantry")])
        let runs: Runs = try await api.post(
            "/runs/search",
            json: Search(
                experimentIDs: [experiment.experiment.experimentID],
                filter: "tags.`gantry.model` = '\(model)'"))
        return (runs.runs ?? []).map(\.info.runID)
    }
}

/// Starts one MLflow server for a whole suite and stops it after the last
/// test; tests reach it through ``MLflowServer/shared``.
///
///     @Suite(.serialized, .mlflowServer) struct MLflowTests { … }
struct SharedMLflowServer: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let server = try await MLflowServer.start()
        do {
            try await MLflowServer.$current.withValue(server) { try await function() }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}

extension Trait where Self == SharedMLflowServer {
    static var mlflowServer: Self { SharedMLflowServer() }
}

extension MLflowServer {
    @TaskLocal static var current: MLflowServer?

    /// The suite's server; fails the test when the suite has none.
    static var shared: MLflowServer {
        get throws {
            guard let current else { throw PeerError(description: "no MLflow server: add the .mlflowServer trait to the suite") }
            return current
        }
    }
}
