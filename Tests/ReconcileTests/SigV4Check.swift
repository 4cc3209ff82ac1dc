import Crypto
import Foundation

/// An independent check of an AWS Signature Version 4 header, computed the
/// way S3 does on receipt: from the decoded path and query, re-encoded
/// canonically. moto does not check signatures, so this is what shows that
/// a real S3 would accept what libcurl signed.
enum SigV4Check {
    /// Nil when the signature is right, else what is wrong.
    static func problem(method: String, url: String, headers: [String: String], secret: String) -> String? {
        let lower = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        guard let authorization = lower["authorization"], authorization.hasPrefix("AWS4-HMAC-SHA256 ") else {
            return "not signed: \(lower["authorization"] ?? "no Authorization header")"
        }
        var fields: [String: String] = [:]
        for part in authorization.dropFirst("AWS4-HMAC-SHA256 ".count).split(separator: ",") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { fields[pair[0]] = pair[1] }
        }
        guard let credential = fields["Credential"], let signedHeaders = fields["SignedHeaders"], let signature = fields["Signature"],
            let date = lower["x-amz-date"], let payloadHash = lower["x-amz-content-sha256"],
            let components = URLComponents(string: url)
        else {
            return "incomplete: \(authorization); x-amz-date and x-amz-content-sha256 are required"
        }
        let scope = credential.split(separator: "/").dropFirst().joined(separator: "/")
        let scopeParts = scope.split(separator: "/").map(String.init)
        guard scopeParts.count == 4 else { return "bad credential scope \(credential)" }

        let path = components.percentEncodedPath.split(separator: "/", omittingEmptySubsequences: false)
            .map { encode(String($0).removingPercentEncoding ?? String($0)) }.joined(separator: "/")
        let query = (components.percentEncodedQuery ?? "").split(separator: "&").map { item -> (String, String) in
            let pair = item.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            return (encode(pair[0]), encode(pair.count > 1 ? pair[1] : ""))
        }.sorted { $0 < $1 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let names = signedHeaders.split(separator: ";").map(String.init)
        let canonicalHeaders = names.map { name -> String in
            let value = (lower[name] ?? "").split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            return "\(name):\(value)\n"
        }.joined()
        let lines: [String] = [method, path.isEmpty ? "/" : path, query, canonicalHeaders, signedHeaders, payloadHash]
        let canonicalRequest = lines.joined(separator: "\n")
        let stringToSign = ["AWS4-HMAC-SHA256", date, scope, hex(SHA256.hash(data: Data(canonicalRequest.utf8)))].joined(separator: "\n")
        var key = SymmetricKey(data: Data("AWS4\(secret)".utf8))
        for part in scopeParts {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let expected = hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
        return expected == signature ? nil : "signature \(signature) is not \(expected) for\n\(canonicalRequest)"
    }

    static func encode(_ text: String) -> String {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~".utf8)
        return text.utf8.map { unreserved.contains($0) ? String(UnicodeScalar($0)) : String(format: "%%%02X", $0) }.joined()
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
