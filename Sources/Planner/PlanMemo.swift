import Foundation
import Lineage
import Manifests
import State
import Synchronization

/// What the planner remembers between plans, kept by whoever owns the
/// planner (the controller's reconciler), never process-wide:
/// - decoded lineages of recorded versions. Every plan compares each
///   model's lineage with its versions' recorded ones; decoding 10,000 JSON
///   lineages on every reconcile cost more than everything else in a plan.
///   A version's lineage never changes once recorded, so each text is
///   decoded once.
/// - each serve spec's digest: every plan compares every Deployment's;
///   hashing the spec is far cheaper than its canonical JSON and SHA-256.
///
///     let previous = memo.lineage(of: version)
public final class PlanMemo: Sendable {
    /// The lineage text itself is the key; it hashes by the version's digest
    /// (short, and the same for the same text), and compares in full.
    struct Key: Hashable {
        var digest: String
        var json: String

        func hash(into hasher: inout Hasher) { hasher.combine(digest) }
        static func == (a: Key, b: Key) -> Bool { a.json == b.json && a.digest == b.digest }
    }

    /// What of a Deployment's spec decides its serving process.
    struct Serving: Encodable, Hashable {
        var serve: Serve
        var address: String?
        var healthCheck: HealthCheck?

        init(_ spec: DeploymentSpec) {
            serve = spec.serve
            address = spec.address
            healthCheck = spec.healthCheck
        }
    }

    /// Past this many, a memo starts over: a bound for a controller whose
    /// state store keeps growing, far above what one repository needs.
    static let limit = 200_000

    private let lineages = Mutex<[Key: Lineage?]>([:])
    private let specDigests = Mutex<[Serving: String]>([:])

    public init() {}

    func lineage(of version: VersionRecord) -> Lineage? {
        let key = Key(digest: version.digest, json: version.lineage)
        if let known = lineages.withLock({ $0[key] }) { return known }
        let lineage = Lineage.decode(version.lineage)
        lineages.withLock { decoded in
            if decoded.count >= Self.limit { decoded.removeAll() }
            decoded[key] = lineage
        }
        return lineage
    }

    /// `Planner.specDigest(spec)`, each spec hashed once.
    func specDigest(_ spec: DeploymentSpec) -> String {
        let serving = Serving(spec)
        if let known = specDigests.withLock({ $0[serving] }) { return known }
        let digest = "sha256:" + Digest.sha256(Digest.canonicalJSON(serving))
        specDigests.withLock { known in
            if known.count >= Self.limit { known.removeAll() }
            known[serving] = digest
        }
        return digest
    }
}
