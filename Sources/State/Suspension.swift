import Foundation
import GRDB

/// An object an operator suspended: the planner leaves it alone until it is
/// resumed, whatever Git says. Recorded so that a restarted controller keeps
/// honouring it.
public struct SuspensionRecord: Codable, Sendable, Hashable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "suspensions"

    /// `Model/churn`, `Deployment/churn-prod`.
    public var object: String
    public var actor: String
    public var reason: String
    public var createdAt: Date

    public init(object: String, actor: String, reason: String, createdAt: Date) {
        self.object = object
        self.actor = actor
        self.reason = reason
        self.createdAt = createdAt
    }
}

extension StateStore {
    public func suspensions() throws -> [SuspensionRecord] {
        try db.read { try SuspensionRecord.order(Column("object")).fetchAll($0) }
    }

    public func suspension(_ object: String) throws -> SuspensionRecord? {
        try db.read { try SuspensionRecord.fetchOne($0, key: object) }
    }

    /// Suspends `object`; suspending it again keeps the first record.
    public func suspend(_ record: SuspensionRecord) throws {
        try db.write { db in
            if try SuspensionRecord.fetchOne(db, key: record.object) == nil { try record.insert(db) }
        }
    }

    /// Returns whether the object was suspended.
    @discardableResult
    public func resume(_ object: String) throws -> Bool {
        try db.write { try SuspensionRecord.deleteOne($0, key: object) }
    }
}
