import Foundation

/// The slice of MLflow's REST API 2.0 the registry driver reads and writes,
/// as its JSON spells it (snake_case; version numbers are strings).
enum MLflowAPI {
    struct Tag: Codable, Sendable, Hashable {
        var key: String
        var value: String
    }

    struct Experiment: Decodable, Sendable {
        var experimentID: String
        enum CodingKeys: String, CodingKey { case experimentID = "experiment_id" }
    }

    /// `experiments/get-by-name` wraps the experiment; `experiments/create`
    /// answers with its id alone, an ``Experiment`` too.
    struct ExperimentAnswer: Decodable { var experiment: Experiment }

    struct Param: Codable, Sendable, Hashable {
        var key: String
        var value: String
    }

    struct Metric: Codable, Sendable, Hashable {
        var key: String
        var value: Double
        var timestamp: Int64
        var step: Int64
    }

    struct Run: Decodable, Sendable {
        struct Info: Decodable, Sendable {
            var runID: String
            /// `mlflow-artifacts:/<experiment>/<run>/artifacts` when the
            /// server proxies artifacts.
            var artifactURI: String
            var status: String?
            enum CodingKeys: String, CodingKey {
                case runID = "run_id", artifactURI = "artifact_uri", status
            }
        }

        struct Data: Decodable, Sendable {
            var metrics: [Metric]?
            var params: [Param]?
        }

        var info: Info
        var data: Data?
    }

    struct RunAnswer: Decodable { var run: Run }
    struct RunSearch: Decodable {
        var runs: [Run]?
    }

    struct ModelVersion: Decodable, Sendable {
        var name: String
        var version: String
        /// `READY`, `PENDING_REGISTRATION` or `FAILED_REGISTRATION`.
        var status: String?
        var statusMessage: String?
        var tags: [Tag]?
        enum CodingKeys: String, CodingKey { case name, version, status, tags, statusMessage = "status_message" }

        func tag(_ key: String) -> String? { tags?.first { $0.key == key }?.value }
    }

    struct ModelVersionAnswer: Decodable {
        var modelVersion: ModelVersion
        enum CodingKeys: String, CodingKey { case modelVersion = "model_version" }
    }

    struct ModelVersionSearch: Decodable {
        var modelVersions: [ModelVersion]?
        var nextPageToken: String?
        enum CodingKeys: String, CodingKey { case modelVersions = "model_versions", nextPageToken = "next_page_token" }
    }

    /// What MLflow answers instead of a result: `{"error_code": …, "message": …}`.
    struct Failure: Decodable {
        var errorCode: String?
        var message: String?
        enum CodingKeys: String, CodingKey { case errorCode = "error_code", message }
    }
}
