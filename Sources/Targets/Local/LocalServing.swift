import Foundation
import Lineage
import Processes
import State
import Synchronization

/// What the local driver keeps in a deployment record's `detail`: the
/// serving process, the port it listens on behind the stable address, and
/// the forwarder that holds the address.
public struct LocalServing: Codable, Hashable, Sendable {
    public var backendPort: Int
    public var serve: ProcessIdentity
    public var forwarder: ProcessIdentity

    public init(backendPort: Int, serve: ProcessIdentity, forwarder: ProcessIdentity) {
        self.backendPort = backendPort
        self.serve = serve
        self.forwarder = forwarder
    }

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
