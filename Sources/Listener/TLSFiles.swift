import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL

/// TLS for a listener, from PEM files: the server's certificate chain and
/// key and, for mutual TLS, the CA whose certificates clients must present
/// (a client without one is refused during the handshake, before HTTP).
///
///     let tls = TLSFiles(certificateChain: "/etc/gantry/agent.pem", privateKey: "/etc/gantry/agent.key",
///                        clientCA: "/etc/gantry/ca.pem")
///     Application(router: router, server: try ConnectionLimits().server(tls: tls), configuration: …)
public struct TLSFiles: Sendable, Hashable {
    public var certificateChain: String
    public var privateKey: String
    public var clientCA: String?

    public init(certificateChain: String, privateKey: String, clientCA: String? = nil) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.clientCA = clientCA
    }

    public struct Unusable: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Reads every file now, so that a command refuses to start (and
    /// changes nothing) when one is missing or not PEM.
    public func check() throws {
        _ = try configuration()
    }

    /// The server configuration; errors name the file at fault.
    func configuration() throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do { chain = try NIOSSLCertificate.fromPEMFile(certificateChain) } catch {
            throw Unusable(description: "cannot read a PEM certificate chain from \(certificateChain): \(error)")
        }
        guard !chain.isEmpty else { throw Unusable(description: "\(certificateChain) holds no certificate") }
        do { key = try NIOSSLPrivateKey(file: privateKey, format: .pem) } catch {
            throw Unusable(description: "cannot read a PEM private key from \(privateKey): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let clientCA {
            do { _ = try NIOSSLCertificate.fromPEMFile(clientCA) } catch {
                throw Unusable(description: "cannot read the client CA from \(clientCA): \(error)")
            }
            configuration.trustRoots = .file(clientCA)
            // A server that verifies asks every client for a certificate and
            // refuses the handshake without one it can verify.
            configuration.certificateVerification = .noHostnameVerification
        }
        return configuration
    }
}

extension ConnectionLimits {
    /// HTTP/1.1 with these limits, over TLS when `tls` is given.
    public func server(tls: TLSFiles?) throws -> HTTPServerBuilder {
        guard let tls else { return http1() }
        return try .tls(http1(), tlsConfiguration: try tls.configuration())
    }
}
