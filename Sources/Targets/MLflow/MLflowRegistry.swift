import Foundation
import HTTP

/// One MLflow tracking server's model registry, through its REST API 2.0:
/// registered models, their versions and aliases, and the runs and proxied
/// artifacts a version is made from.
///
///     let registry = MLflowRegistry(client: RESTClient(baseURL: "http://127.0.0.1:5000"))
///     try await registry.ensureRegisteredModel("churn")
///     try await registry.setAlias("churn-prod", of: "churn", to: "2")
struct MLflowRegistry: Sendable {
    let client: RESTClient

    static let api = "/api/2.0/mlflow"

    // MARK: - Registered models and versions

    /// Creates the registered model unless it exists; a concurrent create is
    /// not an error.
    func ensureRegisteredModel(_ name: String) async throws {
        let found = try await client.send(
            "GET", Self.api + "/registered-models/get", query: [("name", name)],
            headers: [("Accept", "application/json")], accept: [404])
        guard found.status == 404 else { return }
        let created = try await client.sendJSON(
            "POST", Self.api + "/registered-models/create",
            json: ["name": name, "description": "Published by Gantry"], accept: [400])
        if created.status == 400, failure(created).errorCode != "RESOURCE_ALREADY_EXISTS" {
            throw status("POST", "/registered-models/create", created)
        }
    }

    /// Every version of a registered model, over all result pages.
    func versions(of model: String) async throws -> [MLflowAPI.ModelVersion] {
        var all: [MLflowAPI.ModelVersion] = []
        var token: String?
        repeat {
            var query = [("filter", "name = '\(Self.quoted(model))'"), ("max_results", "1000")]
            if let token { query.append(("page_token", token)) }
            let page: MLflowAPI.ModelVersionSearch = try await client.get(Self.api + "/model-versions/search", query: query)
            all += page.modelVersions ?? []
            token = page.nextPageToken.flatMap { $0.isEmpty ? nil : $0 }
        } while token != nil
        return all
    }

    func version(_ version: String, of model: String) async throws -> MLflowAPI.ModelVersion {
        let answer: MLflowAPI.ModelVersionAnswer = try await client.get(
            Self.api + "/model-versions/get",
            query: [("name", model), ("version", version)])
        return answer.modelVersion
    }

    struct NewVersion: Encodable {
        var name: String
        var source: String
        var runID: String
        var tags: [MLflowAPI.Tag]
        var description: String
        enum CodingKeys: String, CodingKey { case name, source, tags, description, runID = "run_id" }
    }

    /// Registers a version. Not idempotent (each call makes a new version
    /// number), so it is never retried once sent; callers look for the
    /// version by its tags first.
    func createVersion(_ version: NewVersion) async throws -> MLflowAPI.ModelVersion {
        let answer: MLflowAPI.ModelVersionAnswer = try await client.post(
            Self.api + "/model-versions/create", json: version,
            idempotent: false)
        return answer.modelVersion
    }

    // MARK: - Aliases

    enum AliasTarget {
        case noRegisteredModel
        case noAlias
        case version(MLflowAPI.ModelVersion)
    }

    /// What `alias` points at. MLflow answers a missing alias with 400
    /// (INVALID_PARAMETER_VALUE, "… alias … not found") and a missing model
    /// with 404.
    func alias(_ alias: String, of model: String) async throws -> AliasTarget {
        let path = "/registered-models/alias"
        let response = try await client.send(
            "GET", Self.api + path, query: [("name", model), ("alias", alias)],
            headers: [("Accept", "application/json")], accept: [400, 404])
        switch response.status {
        case 404:
            return .noRegisteredModel
        case 400:
            let message = failure(response).message ?? ""
            guard message.contains("alias"), message.contains("not found") else { throw status("GET", path, response) }
            return .noAlias
        default:
            return .version(try client.decode(MLflowAPI.ModelVersionAnswer.self, from: response).modelVersion)
        }
    }

    /// Points `alias` at `version` (a string: MLflow rejects a number).
    func setAlias(_ alias: String, of model: String, to version: String) async throws {
        try await client.sendJSON(
            "POST", Self.api + "/registered-models/alias",
            json: ["name": model, "alias": alias, "version": version], idempotent: true)
    }

    /// Removes `alias`; one that is gone already, or whose model is, is fine.
    /// MLflow reads the DELETE's parameters from a JSON body.
    func deleteAlias(_ alias: String, of model: String) async throws {
        try await client.sendJSON(
            "DELETE", Self.api + "/registered-models/alias", json: ["name": model, "alias": alias],
            accept: [404])
    }

    // MARK: - Experiments and runs

    /// The id of the experiment `name`, created when missing.
    func experimentID(named name: String) async throws -> String {
        let path = Self.api + "/experiments/get-by-name"
        let found = try await client.send(
            "GET", path, query: [("experiment_name", name)],
            headers: [("Accept", "application/json")], accept: [404])
        if found.status != 404 { return try client.decode(MLflowAPI.ExperimentAnswer.self, from: found).experiment.experimentID }
        let created = try await client.sendJSON("POST", Self.api + "/experiments/create", json: ["name": name], accept: [400])
        if created.status == 400 {
            // Another writer created it between the two calls.
            guard failure(created).errorCode == "RESOURCE_ALREADY_EXISTS" else { throw status("POST", "/experiments/create", created) }
            return try await client.get(path, query: [("experiment_name", name)], as: MLflowAPI.ExperimentAnswer.self).experiment.experimentID
        }
        return try client.decode(MLflowAPI.Experiment.self, from: created).experimentID
    }

    /// The runs in `experiment` carrying every tag in `tags`.
    func runs(in experiment: String, tagged tags: [String: String]) async throws -> [MLflowAPI.Run] {
        struct Search: Encodable {
            var experimentIDs: [String]
            var filter: String
            var maxResults: Int
            enum CodingKeys: String, CodingKey { case filter, experimentIDs = "experiment_ids", maxResults = "max_results" }
        }
        let filter = tags.sorted { $0.key < $1.key }.map { "tags.`\($0.key)` = '\(Self.quoted($0.value))'" }.joined(separator: " and ")
        let answer: MLflowAPI.RunSearch = try await client.post(
            Self.api + "/runs/search", json: Search(experimentIDs: [experiment], filter: filter, maxResults: 10), idempotent: true)
        return answer.runs ?? []
    }

    func createRun(in experiment: String, name: String, startTime: Int64, tags: [MLflowAPI.Tag]) async throws -> MLflowAPI.Run {
        struct NewRun: Encodable {
            var experimentID: String
            var runName: String
            var startTime: Int64
            var tags: [MLflowAPI.Tag]
            enum CodingKeys: String, CodingKey { case tags, experimentID = "experiment_id", runName = "run_name", startTime = "start_time" }
        }
        let answer: MLflowAPI.RunAnswer = try await client.post(
            Self.api + "/runs/create", json: NewRun(experimentID: experiment, runName: name, startTime: startTime, tags: tags),
            idempotent: false)
        return answer.run
    }

    /// Logs params and metrics. Params cannot change once logged, so the
    /// caller sends only the ones the run lacks.
    func log(run: String, params: [MLflowAPI.Param], metrics: [MLflowAPI.Metric]) async throws {
        struct Batch: Encodable {
            var runID: String
            var params: [MLflowAPI.Param]
            var metrics: [MLflowAPI.Metric]
            enum CodingKeys: String, CodingKey { case params, metrics, runID = "run_id" }
        }
        guard !params.isEmpty || !metrics.isEmpty else { return }
        try await client.sendJSON("POST", Self.api + "/runs/log-batch", json: Batch(runID: run, params: params, metrics: metrics))
    }

    func finish(run: String, endTime: Int64) async throws {
        struct Update: Encodable {
            var runID: String
            var status = "FINISHED"
            var endTime: Int64
            enum CodingKeys: String, CodingKey { case status, runID = "run_id", endTime = "end_time" }
        }
        try await client.sendJSON("POST", Self.api + "/runs/update", json: Update(runID: run, endTime: endTime), idempotent: true)
    }

    // MARK: - Artifacts

    /// Uploads `file` to `path` under the run's artifact root through the
    /// server's artifact proxy (`mlflow-artifacts:` URIs), the only way in
    /// when the client cannot reach the artifact store itself.
    ///
    ///     try await registry.upload("/tmp/model.json", to: "model/model.json", artifactURI: run.info.artifactURI)
    func upload(_ file: String, to path: String, artifactURI: String) async throws {
        guard let root = Self.proxiedPath(artifactURI) else {
            throw DriverError(
                "the MLflow server at \(HTTPError.redact(client.baseURL)) does not proxy artifacts (the run's artifact URI is "
                    + "\(artifactURI)); start it with --serve-artifacts and --artifacts-destination")
        }
        guard let bytes = FileManager.default.contents(atPath: file) else { throw DriverError("cannot read artifact file \(file)") }
        let segments = (root + "/" + path).split(separator: "/").map { RESTClient.encode(String($0)) }
        try await client.send(
            "PUT", "/api/2.0/mlflow-artifacts/artifacts/" + segments.joined(separator: "/"), body: Array(bytes),
            contentType: "application/octet-stream")
    }

    /// `1/<run>/artifacts` from `mlflow-artifacts:/1/<run>/artifacts` (or
    /// from `mlflow-artifacts://host:port/1/…`); nil for any other scheme.
    static func proxiedPath(_ uri: String) -> String? {
        let scheme = "mlflow-artifacts:"
        guard uri.hasPrefix(scheme) else { return nil }
        var rest = uri.dropFirst(scheme.count)
        if rest.hasPrefix("//") {
            rest = rest.dropFirst(2)
            rest = rest.firstIndex(of: "/").map { rest[$0...] } ?? ""
        }
        let path = rest.split(separator: "/").joined(separator: "/")
        return path.isEmpty ? nil : path
    }

    // MARK: - Helpers

    /// A value inside a single-quoted MLflow filter string.
    static func quoted(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
    }

    func failure(_ response: HTTPResponse) -> MLflowAPI.Failure {
        (try? JSONDecoder().decode(MLflowAPI.Failure.self, from: Data(response.body))) ?? MLflowAPI.Failure()
    }

    /// An answer the caller cannot use, worded as ``HTTPStatusError`` words it.
    func status(_ method: String, _ path: String, _ response: HTTPResponse) -> DriverError {
        DriverError("\(method) \(HTTPError.redact(client.url(Self.api + path))) answered \(response.status): \(client.excerpt(response.body))")
    }
}
