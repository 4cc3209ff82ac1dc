import Foundation
import Lineage
import Processes
import StableAddress
import State
import Synchronization

/// What the local driver keeps in a deployment record's `detail`: the
/// serving process, the port it listens on behind the stable address, and
/// the forwarder that holds the address; with `replicas` above 1, the
/// further servers of the same version.
public struct LocalServing: Codable, Hashable, Sendable {
    public var backendPort: Int
    public var serve: ProcessIdentity
    public var forwarder: ProcessIdentity
    /// Replicas after the first (`backendPort`, `serve`); absent with one.
    public var more: [Replica]?

    /// One server of a version and the loopback port it listens on.
    public struct Replica: Codable, Hashable, Sendable {
        public var port: Int
        public var serve: ProcessIdentity

        public init(port: Int, serve: ProcessIdentity) {
            self.port = port
            self.serve = serve
        }

        public var endpoint: Endpoint { Endpoint(host: "127.0.0.1", port: UInt16(clamping: port)) }
    }

    public init(backendPort: Int, serve: ProcessIdentity, forwarder: ProcessIdentity, more: [Replica]? = nil) {
        self.backendPort = backendPort
        self.serve = serve
        self.forwarder = forwarder
        self.more = more
    }

    init(replicas: [Replica], forwarder: ProcessIdentity) {
        self.init(
            backendPort: replicas[0].port, serve: replicas[0].serve, forwarder: forwarder,
            more: replicas.count > 1 ? Array(replicas.dropFirst()) : nil)
    }

    /// Every replica, the first included.
    public var replicas: [Replica] { [Replica(port: backendPort, serve: serve)] + (more ?? []) }

    /// Whether every replica's process runs.
    public var isServing: Bool { replicas.allSatisfy(\.serve.isRunning) }

    /// The record's detail as JSON, for a new record.
    public var json: String { Digest.canonicalJSON(self) }

    /// What `record` says is serving, nil for a record of another driver.
    /// Observing reads it for every Deployment on every plan, and a record's
    /// detail rarely changes, so decoded ones are remembered: a JSON decode
    /// costs far more than the lookup.
    public static func of(_ record: DeploymentRecord) -> LocalServing? {
        let json = record.detail
        guard json.hasPrefix("{") else { return nil }
        if let known = decoded.withLock({ $0[json] }) { return known }
        guard let serving = try? JSONDecoder().decode(LocalServing.self, from: Data(json.utf8)) else { return nil }
        decoded.withLock { known in
            if known.count >= 100_000 { known.removeAll() }
            known[json] = serving
        }
        return serving
    }

    private static let decoded = Mutex<[String: LocalServing]>([:])
}
