import Foundation
import Lineage
import State

/// Decoded lineages of recorded versions. Every plan compares each model's
/// lineage with its versions' recorded ones; decoding 10,000 JSON lineages
/// on every reconcile cost more than everything else in a plan. A version's
/// lineage never changes once recorded, so each JSON text is decoded once.
///
///     let previous = LineageMemo.shared.lineage(of: version)
final class LineageMemo: @unchecked Sendable {
    static let shared = LineageMemo()

    /// The lineage text itself is the key; it hashes by the version's digest
    /// (short, and the same for the same text), and compares in full.
    struct Key: Hashable {
        var digest: String
        var json: String

        func hash(into hasher: inout Hasher) { hasher.combine(digest) }
        static func == (a: Key, b: Key) -> Bool { a.json == b.json && a.digest == b.digest }
    }

    /// Past this many, the memo starts over: a bound for a controller whose
    /// state store keeps growing, far above what one repository needs.
    static let limit = 200_000

    private let lock = NSLock()
    private var decoded: [Key: Lineage?] = [:]

    func lineage(of version: VersionRecord) -> Lineage? {
        let key = Key(digest: version.digest, json: version.lineage)
        lock.lock()
        if let known = decoded[key] {
            lock.unlock()
            return known
        }
        lock.unlock()
        let lineage = Lineage.decode(version.lineage)
        lock.lock()
        if decoded.count >= Self.limit { decoded.removeAll() }
        decoded[key] = lineage
        lock.unlock()
        return lineage
    }
}
