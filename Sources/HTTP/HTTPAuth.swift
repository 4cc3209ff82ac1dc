import CCurl
import CCurlLoader

/// How a request proves who sends it. The credentials go to libcurl and
/// nowhere else: printing or dumping a request shows the scheme, never a
/// secret, and an ``HTTPError`` carries only the redacted URL.
///
///     let auth = HTTPAuth.awsSigV4(region: "eu-west-1", service: "s3", accessKey: id, secret: key)
///     let response = try await HTTPClient.shared.send(HTTPRequest(method: "HEAD", url: url, auth: auth))
public enum HTTPAuth: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    case none
    /// `Authorization: Bearer <token>`.
    case bearer(String)
    /// HTTP basic authentication.
    case basic(user: String, password: String)
    /// AWS Signature Version 4, computed by libcurl (`CURLOPT_AWS_SIGV4`)
    /// over the method, path, query and headers of the request as sent.
    case awsSigV4(region: String, service: String, accessKey: String, secret: String)

    public var description: String {
        switch self {
        case .none: "none"
        case .bearer: "bearer"
        case .basic: "basic"
        case .awsSigV4(let region, let service, _, _): "aws-sigv4(\(region), \(service))"
        }
    }

    public var debugDescription: String { description }

    /// Keeps the secrets out of `dump` and debugger views as well.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .enum) }

    /// Sets the handle's options for this scheme; returns the header list,
    /// extended when the scheme is a header.
    func apply(to handle: UnsafeMutableRawPointer, headers: UnsafeMutablePointer<curl_slist>?) -> UnsafeMutablePointer<curl_slist>? {
        switch self {
        case .none:
            return headers
        case .bearer(let token):
            return gantry_curl_slist_append(headers, "Authorization: Bearer \(token)")
        case .basic(let user, let password):
            // Separate options rather than CURLOPT_USERPWD, so a colon in
            // either part needs no escaping.
            gantry_curl_setopt_string(handle, CURLOPT_USERNAME, user)
            gantry_curl_setopt_string(handle, CURLOPT_PASSWORD, password)
            return headers
        case .awsSigV4(let region, let service, let accessKey, let secret):
            gantry_curl_setopt_string(handle, CURLOPT_AWS_SIGV4, "aws:amz:\(region):\(service)")
            gantry_curl_setopt_string(handle, CURLOPT_USERNAME, accessKey)
            gantry_curl_setopt_string(handle, CURLOPT_PASSWORD, secret)
            return headers
        }
    }
}
