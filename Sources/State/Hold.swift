import Foundation
import GRDB

/// A version a rollout failed with, held: the planner does not try it
/// again, and with `autoRollback` puts the targets it reached back on
/// `previous`, until Git pins another version or changes the serve spec.
/// Recorded before the rollback starts, so a controller killed in the
/// middle finishes the rollback instead of retrying the rollout.
public struct HoldRecord: Codable, Sendable, Hashable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "holds"

    public var deployment: String
    public var model: String
    /// The version that failed.
    public var version: Int
    /// The Deployment's serve digest when it failed; a change releases it.
    public var specDigest: String
    /// The version the targets go back to; nil when none served before.
    public var previous: Int?
    /// Which target failed, and how.
    public var reason: String
    public var createdAt: Date

    public init(deployment: String, model: String, version: Int, specDigest: String, previous: Int?, reason: String, createdAt: Date) {
        self.deployment = deployment
        self.model = model
        self.version = version
        self.specDigest = specDigest
        self.previous = previous
        self.reason = reason
        self.createdAt = createdAt
    }
}

extension StateStore {
    public func holds() throws -> [HoldRecord] {
        try db.read { try HoldRecord.order(Column("deployment")).fetchAll($0) }
    }

    public func hold(_ deployment: String) throws -> HoldRecord? {
        try db.read { try HoldRecord.fetchOne($0, key: deployment) }
    }

    public func save(_ hold: HoldRecord) throws {
        try db.write { try hold.save($0) }
    }

    /// Returns whether a hold was released.
    @discardableResult
    public func release(_ deployment: String) throws -> Bool {
        try db.write { try HoldRecord.deleteOne($0, key: deployment) }
    }
}
