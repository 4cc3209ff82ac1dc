import Foundation
import HTTP
import Manifests

/// One bucket of an S3-compatible store, reached through the S3 REST API
/// with requests that libcurl signs (AWS Signature Version 4).
///
/// With an `endpoint` the URLs are path style (`<endpoint>/<bucket>/<key>`),
/// which S3-compatible stores expect; without one they are AWS's virtual-host
/// style (`https://<bucket>.s3.<region>.amazonaws.com/<key>`).
///
///     let bucket = try S3Bucket(location, http: .shared)
///     let etag = try await bucket.etag(of: "exports/2024-06-01.csv")
public struct S3Bucket: Sendable {
    /// What went wrong, in words that name no credential.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var message: String
        init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    public struct Object: Sendable, Hashable {
        public var key: String
        public var etag: String
        public var size: Int64
    }

    static let defaultRegion = "us-east-1"
    /// SHA-256 of an empty payload. S3 refuses a signed request without
    /// `x-amz-content-sha256`, and libcurl 7.88 does not add it by itself.
    static let emptyPayloadSHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public let name: String
    let region: String
    let endpoint: String?
    let auth: HTTPAuth
    let http: HTTPClient

    /// Credentials come from the location's secret references, else from
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`; with neither, requests
    /// go unsigned, which a public bucket accepts.
    public init(
        _ location: S3Location, http: HTTPClient = .shared,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(Failure) {
        name = location.bucket
        region = location.region ?? Self.defaultRegion
        endpoint = location.endpoint.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.http = http
        if let credentials = location.credentials {
            let accessKey: String
            let secret: String
            do { accessKey = try credentials.accessKeyId.read() } catch {
                throw Failure("credentials.accessKeyId: \(error)")
            }
            do { secret = try credentials.secretAccessKey.read() } catch {
                throw Failure("credentials.secretAccessKey: \(error)")
            }
            auth = .awsSigV4(region: region, service: "s3", accessKey: accessKey, secret: secret)
        } else if let accessKey = environment["AWS_ACCESS_KEY_ID"], !accessKey.isEmpty,
            let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty
        {
            auth = .awsSigV4(region: region, service: "s3", accessKey: accessKey, secret: secret)
        } else {
            auth = .none
        }
    }

    // MARK: - Requests

    /// The object's ETag, without its quotes.
    public func etag(of key: String) async throws(Failure) -> String {
        let response = try await send("HEAD", key: key)
        guard (200..<300).contains(response.status) else {
            throw Failure(response.status == 404 ? "no such object (HTTP 404)" : explain(response))
        }
        guard let etag = response.headers["etag"], !etag.isEmpty else {
            throw Failure("the store gives no ETag for this object")
        }
        return Self.unquoted(etag)
    }

    /// Every object whose key starts with `prefix`, page after page
    /// (ListObjectsV2 with continuation tokens). `pageSize` is the store's
    /// own (1000 on AWS) unless given.
    public func objects(prefix: String, pageSize: Int? = nil) async throws(Failure) -> [Object] {
        var objects: [Object] = []
        var token: String?
        while true {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            if let pageSize { query.append(("max-keys", String(pageSize))) }
            let response = try await send("GET", key: "", query: query)
            guard (200..<300).contains(response.status) else { throw Failure(explain(response)) }
            guard let page = S3ListPage(parsing: response.body) else {
                throw Failure("the store's listing is not ListObjectsV2 XML")
            }
            objects += page.objects
            guard page.isTruncated else { return objects }
            // A truncated page without a new token would list forever.
            guard let next = page.nextContinuationToken, next != token else {
                throw Failure("the store's listing is truncated but gives no continuation token")
            }
            token = next
        }
    }

    /// The object's bytes and the ETag they were served with (without its
    /// quotes); at most `limit` bytes.
    public func get(key: String, limit: Int) async throws(Failure) -> (body: [UInt8], etag: String) {
        let response = try await send("GET", key: key, timeout: .seconds(600), limit: limit)
        guard (200..<300).contains(response.status) else {
            throw Failure(response.status == 404 ? "\(key): no such object (HTTP 404)" : "GET \(key): \(explain(response))")
        }
        return (response.body, response.headers["etag"].map(Self.unquoted) ?? "")
    }

    func send(
        _ method: String, key: String, query: [(String, String)] = [], timeout: Duration = .seconds(30), limit: Int? = nil
    ) async throws(Failure) -> HTTPResponse {
        var request = HTTPRequest(
            method: method, url: url(key: key, query: query),
            headers: [("x-amz-content-sha256", Self.emptyPayloadSHA256)],
            timeout: timeout, auth: auth)
        request.maximumBodyBytes = limit
        do {
            return try await http.send(request)
        } catch {
            throw Failure("\(error)")  // HTTPError shows the URL without its query
        }
    }

    /// A failed answer in a user's words: S3's error code and message when the
    /// body has them, and what to do about the usual causes.
    func explain(_ response: HTTPResponse) -> String {
        var text = "the store answered HTTP \(response.status)"
        if let error = S3ErrorBody(parsing: response.body) {
            text += " \(error.code)" + (error.message.isEmpty ? "" : ": \(error.message)")
        }
        if let actual = response.headers["x-amz-bucket-region"], actual != region {
            text += "; the bucket is in \(actual): set spec.source.s3.region"
        }
        if response.status == 403, isAnonymous {
            text += "; no credentials were given: set spec.source.s3.credentials, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        }
        return text
    }

    var isAnonymous: Bool {
        if case .none = auth { return true }
        return false
    }

    // MARK: - Addressing

    /// The URL of a key (or of the bucket, for an empty key) with a query.
    /// Segments and query values are encoded the way SigV4 canonicalises
    /// them, and the query is sorted by name, so the signature libcurl
    /// computes over the URL as written is the one S3 expects.
    func url(key: String, query: [(String, String)] = []) -> String {
        let path = key.split(separator: "/", omittingEmptySubsequences: false)
            .map { Self.encode(String($0)) }.joined(separator: "/")
        var url: String
        if let endpoint {
            url = "\(endpoint)/\(Self.encode(name))" + (key.isEmpty ? "" : "/\(path)")
        } else {
            url = "https://\(name).s3.\(region).amazonaws.com/\(path)"
        }
        if !query.isEmpty {
            url +=
                "?"
                + query.sorted { $0.0 < $1.0 }
                .map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        }
        return url
    }

    /// RFC 3986 percent-encoding of everything but the unreserved
    /// characters, as SigV4 requires (upper-case hex).
    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    static func unquoted(_ etag: String) -> String {
        etag.count >= 2 && etag.hasPrefix("\"") && etag.hasSuffix("\"") ? String(etag.dropFirst().dropLast()) : etag
    }
}
