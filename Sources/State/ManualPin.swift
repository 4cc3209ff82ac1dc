import Foundation
import GRDB

/// A Deployment a person rolled back (`gantry rollback`): while Git still
/// pins `version`, a model's automatic promotion leaves it alone. A person
/// changing the pin in Git (to any other version) ends it.
public struct ManualPin: Codable, Sendable, Hashable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "manualPins"

    public var deployment: String
    public var version: Int
    public var actor: String
    public var reason: String
    public var createdAt: Date

    public init(deployment: String, version: Int, actor: String, reason: String, createdAt: Date) {
        self.deployment = deployment
        self.version = version
        self.actor = actor
        self.reason = reason
        self.createdAt = createdAt
    }

    /// Whether it still applies to a Deployment Git pins to `pinned`.
    public func applies(to pinned: Int) -> Bool { pinned == version }

    /// "pinned to v2 by rollback (alice: bad latency)".
    public var text: String { "pinned to v\(version) by a rollback (\(actor)\(reason.isEmpty ? "" : ": \(reason)"))" }
}

extension StateStore {
    public func manualPin(_ deployment: String) throws -> ManualPin? {
        try db.read { try ManualPin.fetchOne($0, key: deployment) }
    }

    public func manualPins() throws -> [ManualPin] {
        try db.read { try ManualPin.order(Column("deployment")).fetchAll($0) }
    }

    public func save(_ pin: ManualPin) throws {
        try db.write { try pin.save($0) }
    }

    public func removeManualPin(_ deployment: String) throws {
        _ = try db.write { try ManualPin.deleteOne($0, key: deployment) }
    }
}
