import Crypto
import Foundation
import HTTP

extension S3Bucket {
    /// The object's ETag without its quotes, or nil when there is no such
    /// object (HTTP 404). Any other answer throws.
    ///
    ///     if try await bucket.etagIfPresent(of: "models/v3/model.tar.gz") == nil { … upload … }
    public func etagIfPresent(of key: String) async throws(Failure) -> String? {
        let response = try await send("HEAD", key: key)
        if response.status == 404 { return nil }
        guard (200..<300).contains(response.status) else { throw Failure("HEAD \(key): \(explain(response))") }
        return response.headers["etag"].map(Self.unquoted)
    }

    /// Writes one object in a single signed PUT and returns its ETag. The
    /// Content-Type is required: without it libcurl sends the body as a form.
    ///
    ///     let etag = try await bucket.put(key: "models/v3/model.json", body: bytes)
    @discardableResult
    public func put(key: String, body: [UInt8], contentType: String = "application/octet-stream") async throws(Failure) -> String {
        let request = HTTPRequest(
            method: "PUT", url: url(key: key),
            headers: [("Content-Type", contentType), ("x-amz-content-sha256", SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined())],
            body: body, timeout: .seconds(300), auth: auth)
        let response: HTTPResponse
        do {
            response = try await http.send(request)
        } catch {
            throw Failure("PUT \(key): \(error)")
        }
        guard (200..<300).contains(response.status) else { throw Failure("PUT \(key): \(explain(response))") }
        return response.headers["etag"].map(Self.unquoted) ?? ""
    }

    /// The object's bytes, or nil when there is no such object (HTTP 404).
    public func getIfPresent(key: String) async throws(Failure) -> [UInt8]? {
        let response = try await send("GET", key: key)
        if response.status == 404 { return nil }
        guard (200..<300).contains(response.status) else { throw Failure("GET \(key): \(explain(response))") }
        return response.body
    }
}
