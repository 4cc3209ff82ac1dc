import CCurl
import CCurlLoader
import Foundation

/// An HTTP request.
///
///     let response = try await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:8700/health"))
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    public var timeout: Duration
    public var connectTimeout: Duration
    public var auth: HTTPAuth
    /// For https: the CA to trust and a client certificate to present.
    public var tls: TLSClientFiles?
    /// A body longer than this aborts the transfer with an error, whatever
    /// the server said its length would be.
    public var maximumBodyBytes: Int?

    public init(
        method: String = "GET", url: String, headers: [(name: String, value: String)] = [],
        body: [UInt8]? = nil, timeout: Duration = .seconds(30), connectTimeout: Duration = .seconds(5),
        auth: HTTPAuth = .none, tls: TLSClientFiles? = nil
    ) {
        self.tls = tls
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.auth = auth
    }
}

/// What an https client trusts and shows, as PEM files: `caFile` replaces
/// the system's trust store (a private CA that signed an agent's
/// certificate); a client certificate and its key prove who is calling
/// (mutual TLS).
///
///     HTTPRequest(url: "https://gpu-node-1:7443/v1/info", tls: TLSClientFiles(caFile: "/etc/gantry/ca.pem"))
public struct TLSClientFiles: Sendable, Hashable {
    public var caFile: String?
    public var certificateFile: String?
    public var keyFile: String?

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names are lowercased; a repeated header keeps its last value.
    public var headers: [String: String]
    public var body: [UInt8]

    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A transfer that did not produce a response, with libcurl's message. The
/// URL is shown without credentials or query string.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public var url: String
    public var code: Int
    public var message: String

    public var description: String { "\(url): \(message)" }

    /// Refused, unresolvable or timed out before a response: safe to retry.
    public var isConnectionFailure: Bool {
        [
            Int(CURLE_COULDNT_CONNECT.rawValue), Int(CURLE_COULDNT_RESOLVE_HOST.rawValue),
            Int(CURLE_OPERATION_TIMEDOUT.rawValue), Int(CURLE_GOT_NOTHING.rawValue),
            Int(CURLE_RECV_ERROR.rawValue), Int(CURLE_SEND_ERROR.rawValue),
        ].contains(code)
    }

    public static func redact(_ url: String) -> String {
        var u = url
        if let q = u.firstIndex(of: "?") { u = String(u[..<q]) }
        if let scheme = u.range(of: "://"), let at = u[scheme.upperBound...].firstIndex(of: "@"),
            !u[scheme.upperBound..<at].contains("/")
        {
            u.replaceSubrange(scheme.upperBound...at, with: "")
        }
        return u
    }

    /// The connection was refused or the host did not resolve: the request
    /// never reached the peer, so even a non-idempotent call may be resent.
    public var neverSent: Bool {
        [Int(CURLE_COULDNT_CONNECT.rawValue), Int(CURLE_COULDNT_RESOLVE_HOST.rawValue)].contains(code)
    }
}

/// An HTTP client on libcurl. Transfers run on their own threads, never on
/// the Swift concurrency pool; easy handles are pooled so connections are
/// reused between requests to the same host.
public final class HTTPClient: @unchecked Sendable {
    public static let shared = HTTPClient()

    private let lock = NSLock()
    private var idle: [UnsafeMutableRawPointer] = []
    private let queue = DispatchQueue(label: "gantry.http", attributes: .concurrent)

    /// libcurl is loaded by the first request, not here: a process that
    /// never speaks HTTP does not load it at all.
    public init() {}

    deinit { idle.forEach { gantry_curl_easy_cleanup($0) } }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try self.perform(request) })
            }
        }
    }

    /// Performs a transfer on the calling thread.
    public func perform(_ request: HTTPRequest) throws -> HTTPResponse {
        let handle = try checkout(for: request.url)
        defer { checkin(handle) }
        let sink = ResponseSink()
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { gantry_curl_slist_free_all(headerList) }

        gantry_curl_setopt_string(handle, CURLOPT_URL, request.url)
        gantry_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        gantry_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(request.timeout.milliseconds))
        gantry_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout.milliseconds))
        gantry_curl_setopt_string(handle, CURLOPT_USERAGENT, "gantry")
        if let tls = request.tls {
            if let ca = tls.caFile {
                // Instead of the system's CAs, not besides them: libcurl's
                // built-in CA directory would otherwise be trusted too.
                gantry_curl_setopt_string(handle, CURLOPT_CAINFO, ca)
                gantry_curl_setopt_string(handle, CURLOPT_CAPATH, nil)
            }
            if let certificate = tls.certificateFile { gantry_curl_setopt_string(handle, CURLOPT_SSLCERT, certificate) }
            if let key = tls.keyFile { gantry_curl_setopt_string(handle, CURLOPT_SSLKEY, key) }
        }
        switch request.method {
        case "GET": gantry_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
        case "HEAD": gantry_curl_setopt_long(handle, CURLOPT_NOBODY, 1)
        default: gantry_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method)
        }
        if let body = request.body {
            gantry_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
            body.withUnsafeBufferPointer { buffer in
                // COPYPOSTFIELDS copies, so the buffer need not outlive this call.
                _ = gantry_curl_setopt_pointer(
                    handle, CURLOPT_COPYPOSTFIELDS,
                    UnsafeMutableRawPointer(mutating: buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!))
            }
        }
        for (name, value) in request.headers {
            headerList = gantry_curl_slist_append(headerList, "\(name): \(value)")
        }
        headerList = request.auth.apply(to: handle, headers: headerList)
        // Without this, curl waits for "100 Continue" on large bodies.
        headerList = gantry_curl_slist_append(headerList, "Expect:")
        gantry_curl_setopt_pointer(handle, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(headerList))

        sink.limit = request.maximumBodyBytes
        let box = Unmanaged.passRetained(sink)
        defer { box.release() }
        gantry_curl_setopt_write_function(
            handle,
            { data, size, count, user in
                let sink = Unmanaged<ResponseSink>.fromOpaque(user!).takeUnretainedValue()
                let n = size * count
                if let limit = sink.limit, sink.body.count + n > limit { return 0 }  // libcurl ends the transfer: a write error
                if n > 0, let data { sink.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: n)) }
                return n
            })
        gantry_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, box.toOpaque())
        gantry_curl_setopt_header_function(
            handle,
            { data, size, count, user in
                let sink = Unmanaged<ResponseSink>.fromOpaque(user!).takeUnretainedValue()
                let n = size * count
                if let data { sink.header(String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)) }
                return n
            })
        gantry_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, box.toOpaque())

        let code = gantry_curl_easy_perform(handle)
        guard code == CURLE_OK else {
            throw HTTPError(
                url: HTTPError.redact(request.url), code: Int(code.rawValue),
                message: String(cString: gantry_curl_easy_strerror(code)))
        }
        var status = 0
        gantry_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: sink.headers, body: sink.body)
    }

    private func checkout(for url: String) throws -> UnsafeMutableRawPointer {
        _ = Curl.initialised
        lock.lock()
        defer { lock.unlock() }
        if let h = idle.popLast() {
            gantry_curl_easy_reset(h)  // keeps the handle's live connections
            return h
        }
        guard let h = gantry_curl_easy_init() else {
            let why = gantry_curl_load_error().map { String(cString: $0) } ?? "curl_easy_init failed"
            throw HTTPError(url: HTTPError.redact(url), code: Int(CURLE_FAILED_INIT.rawValue), message: why)
        }
        return h
    }

    private func checkin(_ handle: UnsafeMutableRawPointer) {
        lock.lock()
        defer { lock.unlock() }
        if idle.count < 8 { idle.append(handle) } else { gantry_curl_easy_cleanup(handle) }
    }
}

final class ResponseSink {
    var body: [UInt8] = []
    var limit: Int?
    var headers: [String: String] = [:]

    func header(_ line: String) {
        if line.hasPrefix("HTTP/") {
            headers.removeAll()  // a new response (after a 100 or a redirect)
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        headers[name] = value
    }
}

enum Curl {
    static let initialised: Bool = {
        gantry_curl_global_init()
        return true
    }()
}

extension Duration {
    var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
