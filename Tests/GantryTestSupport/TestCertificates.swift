import Foundation

/// A private CA with a server certificate for 127.0.0.1 and two client
/// certificates, one signed by the CA and one by a stranger, made with the
/// openssl command for the tests of https listeners and mutual TLS.
///
///     let certs = try await TestCertificates.make()
///     // certs.serverCertificate, certs.serverKey, certs.ca, certs.clientCertificate, certs.clientKey, certs.strangerCertificate …
public struct TestCertificates: Sendable {
    public let directory: String
    public var ca: String { directory + "/ca.pem" }
    public var serverCertificate: String { directory + "/server.pem" }
    public var serverKey: String { directory + "/server.key" }
    public var clientCertificate: String { directory + "/client.pem" }
    public var clientKey: String { directory + "/client.key" }
    public var strangerCertificate: String { directory + "/stranger.pem" }
    public var strangerKey: String { directory + "/stranger.key" }

    public static func make() async throws -> TestCertificates {
        let directory = NSTemporaryDirectory() + "gantry-certs-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certs = TestCertificates(directory: directory)
        try "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n".write(toFile: directory + "/server.ext", atomically: true, encoding: .utf8)
        try "extendedKeyUsage=clientAuth\n".write(toFile: directory + "/client.ext", atomically: true, encoding: .utf8)
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for ca in ["ca", "stranger-ca"] {
            try await openssl(
                ["req", "-x509"] + key + ["-keyout", "\(ca).key", "-out", "\(ca).pem", "-days", "2", "-subj", "/CN=gantry test \(ca)"], in: directory)
        }
        for (name, ca, ext) in [("server", "ca", "server.ext"), ("client", "ca", "client.ext"), ("stranger", "stranger-ca", "client.ext")] {
            try await openssl(
                ["req"] + key + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name == "server" ? "127.0.0.1" : name)"], in: directory)
            try await openssl(
                [
                    "x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key", "-CAcreateserial",
                    "-out", "\(name).pem", "-days", "2", "-extfile", ext,
                ], in: directory)
        }
        return certs
    }

    static func openssl(_ arguments: [String], in directory: String) async throws {
        try await runCommand(["openssl"] + arguments, in: directory, timeout: .seconds(60)).checked()
    }
}
