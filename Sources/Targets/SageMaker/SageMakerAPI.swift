import Foundation
import HTTP

/// SageMaker's JSON 1.1 API: every call is `POST /` with the action in
/// `X-Amz-Target: SageMaker.<Action>`, signed with SigV4 for the service
/// "sagemaker".
///
///     let api = SageMakerAPI(endpoint: "https://api.sagemaker.eu-west-1.amazonaws.com", region: "eu-west-1",
///                            accessKey: id, secret: key, retry: .standard, timeout: .seconds(30))
///     let job: TrainingJobDescription = try await api.call("DescribeTrainingJob", ByName.trainingJob(name), idempotent: true)
struct SageMakerAPI: Sendable {
    var rest: RESTClient

    init(endpoint: String, region: String, accessKey: String, secret: String, retry: RetryPolicy, timeout: Duration) {
        rest = RESTClient(
            baseURL: endpoint,
            auth: .awsSigV4(region: region, service: "sagemaker", accessKey: accessKey, secret: secret),
            retry: retry, timeout: timeout, connectTimeout: .seconds(5), secrets: [secret])
    }

    /// Sends `action` with `body` and decodes the answer. `idempotent` says
    /// whether a call that may have reached SageMaker can be sent again:
    /// true for Describe* and for Create* of a deterministic name, whose
    /// repeat answers "already exists".
    func call<Answer: Decodable>(
        _ action: String, _ body: some Encodable, idempotent: Bool,
        as type: Answer.Type = Answer.self
    ) async throws -> Answer {
        let response = try await send(action, body, idempotent: idempotent)
        do {
            return try JSONDecoder().decode(Answer.self, from: Data(response.body.isEmpty ? Array("{}".utf8) : response.body))
        } catch {
            throw DriverError("SageMaker \(action) answered unexpected JSON (\(error)): \(rest.excerpt(response.body))")
        }
    }

    /// Sends `action` when its answer does not matter.
    func perform(_ action: String, _ body: some Encodable, idempotent: Bool) async throws {
        _ = try await send(action, body, idempotent: idempotent)
    }

    /// A 501, or a 5xx whose body is an HTML page rather than SageMaker's
    /// JSON.
    static func lacksAction(_ error: HTTPStatusError) -> Bool {
        let body = error.excerpt.prefix(64).lowercased()
        return error.status == 501 || (error.status >= 500 && (body.hasPrefix("<!doctype html") || body.hasPrefix("<html")))
    }

    /// Answers that say what is wrong with the call, decoded into a
    /// ``SageMakerError``; 429 is left to the client's retries.
    static let clientErrors = Set(400..<500).subtracting([429])

    func send(_ action: String, _ body: some Encodable, idempotent: Bool) async throws -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes = Array(try encoder.encode(body))
        let response: HTTPResponse
        do {
            response = try await rest.send(
                "POST", "/", body: bytes, contentType: "application/x-amz-json-1.1",
                headers: [("X-Amz-Target", "SageMaker.\(action)")],
                idempotent: idempotent, accept: Self.clientErrors)
        } catch let error as HTTPStatusError where Self.lacksAction(error) {
            // SageMaker answers its own failures in JSON. A web framework's
            // HTML error page is an imitation of the API (a local stack,
            // moto) that has no handler for this action.
            throw DriverError(
                "SageMaker \(action): the API at \(rest.baseURL) answered HTTP \(error.status) with an HTML error page, "
                    + "not a SageMaker error: it does not implement \(action) (moto, for one, lacks UpdateEndpoint and StopTrainingJob)")
        } catch {
            throw DriverError("SageMaker \(action): \(error)")
        }
        guard (200..<300).contains(response.status) else {
            throw SageMakerError(action: action, status: response.status, body: response.body, mask: rest.excerpt)
        }
        return response
    }
}

/// A client error SageMaker answered (HTTP 4xx), with its exception type.
struct SageMakerError: Error, CustomStringConvertible, Sendable {
    var action: String
    var status: Int
    /// "ValidationException", "ResourceInUse", "ResourceLimitExceeded", …
    var type: String
    var message: String

    /// `mask` masks secrets and shortens text to one line.
    init(action: String, status: Int, body: [UInt8], mask: ([UInt8]) -> String) {
        self.action = action
        self.status = status
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        // The type may come as "com.amazonaws.sagemaker#ValidationException".
        type = ((object?["__type"] as? String) ?? "").split(separator: "#").last.map(String.init) ?? ""
        let text = (object?["message"] as? String) ?? (object?["Message"] as? String)
        message = mask(text.map { Array($0.utf8) } ?? body)
    }

    var description: String {
        "SageMaker \(action) answered \(status)" + (type.isEmpty ? "" : " \(type)") + (message.isEmpty ? "" : ": \(message)")
    }

    /// The named resource does not exist. SageMaker says so with a
    /// ValidationException: "Could not find endpoint …", "Requested resource
    /// not found".
    var isNotFound: Bool {
        type == "ResourceNotFound"
            || (type == "ValidationException"
                && (message.contains("Could not find") || message.localizedCaseInsensitiveContains("not found")))
    }

    /// A create whose name is taken: an earlier attempt of the same call
    /// got there first.
    var isAlreadyExisting: Bool {
        type == "ResourceInUse" || message.localizedCaseInsensitiveContains("already exist")
    }
}
