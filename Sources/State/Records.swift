import Foundation
import GRDB

/// A trained model version: its number, identity digest, lineage, metrics
/// and artifact.
public struct VersionRecord: Codable, Sendable, Hashable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "versions"

    public var model: String
    public var number: Int
    /// The lineage digest: a version's identity.
    public var digest: String
    /// JSON of the lineage (commit, code tree, datasets, params, runtime).
    public var lineage: String
    /// JSON object of metric name to number.
    public var metrics: String
    public var artifactPath: String
    public var artifactDigest: String
    public var commit: String
    /// Whether the metrics pass the model's promotion gates, and why not.
    public var gatesPassed: Bool
    public var gateReport: String
    public var createdAt: Date
    /// What promotion did: "committed <sha> to main", "pushed branch
    /// gantry/churn-v3 (<sha>)", "blocked: …"; empty until it runs.
    public var promotion: String = ""

    public init(
        model: String, number: Int, digest: String, lineage: String, metrics: String, artifactPath: String,
        artifactDigest: String, commit: String, gatesPassed: Bool, gateReport: String, createdAt: Date
    ) {
        self.model = model
        self.number = number
        self.digest = digest
        self.lineage = lineage
        self.metrics = metrics
        self.artifactPath = artifactPath
        self.artifactDigest = artifactDigest
        self.commit = commit
        self.gatesPassed = gatesPassed
        self.gateReport = gateReport
        self.createdAt = createdAt
    }

    public var metricValues: [String: Double] {
        (try? JSONDecoder().decode([String: Double].self, from: Data(metrics.utf8))) ?? [:]
    }
}

/// One Deployment on one of its targets: what a `DeploymentRecord` is
/// kept for.
public struct Slot: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var deployment: String
    public var target: String

    public init(_ deployment: String, _ target: String) {
        self.deployment = deployment
        self.target = target
    }

    public var description: String { "\(deployment) on \(target)" }

    public static func < (a: Slot, b: Slot) -> Bool { (a.deployment, a.target) < (b.deployment, b.target) }
}

/// What a Deployment is serving now on one target.
public struct DeploymentRecord: Codable, Sendable, Hashable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "deployments"

    public var name: String
    public var model: String
    public var version: Int
    public var target: String
    public var address: String
    /// Digest of the Deployment's serve spec when deployed; a change redeploys.
    public var specDigest: String
    public var commit: String
    public var updatedAt: Date
    /// What the target's driver needs to find the deployment again, as JSON
    /// of its own: processes and a port, an endpoint, an application.
    /// Opaque to everything but that driver.
    public var detail: String

    public init(
        name: String, model: String, version: Int, target: String, address: String,
        specDigest: String, commit: String, updatedAt: Date, detail: String = ""
    ) {
        self.detail = detail
        self.specDigest = specDigest
        self.name = name
        self.model = model
        self.version = version
        self.target = target
        self.address = address
        self.commit = commit
        self.updatedAt = updatedAt
    }

    public var slot: Slot { Slot(name, target) }
}

/// One reconcile: which revision, what happened.
public struct ReconcileRecord: Codable, Sendable, Hashable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "reconciles"

    public var id: Int64?
    public var startedAt: Date
    public var finishedAt: Date?
    public var source: String
    public var commit: String
    public var author: String
    public var subject: String
    /// `applied`, `nothing-to-do`, `invalid`, `failed`, `running`, and
    /// `interrupted` for one whose process ended before it could finish.
    public var result: String
    public var error: String
    public var actions: Int
    /// The process running it, `pid:start-time`, so that a reconcile whose
    /// process was killed is told from one under way.
    public var owner: String = ""

    public init(startedAt: Date, source: String, commit: String, author: String, subject: String) {
        self.startedAt = startedAt
        self.source = source
        self.commit = commit
        self.author = author
        self.subject = subject
        self.result = "running"
        self.error = ""
        self.actions = 0
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// An audit entry for every action taken.
public struct AuditRecord: Codable, Sendable, Hashable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "audit"

    public var id: Int64?
    public var time: Date
    public var reconcileId: Int64?
    public var actor: String
    public var action: String
    public var object: String
    public var detail: String
    public var result: String

    public init(time: Date, reconcileId: Int64?, actor: String, action: String, object: String, detail: String, result: String) {
        self.time = time
        self.reconcileId = reconcileId
        self.actor = actor
        self.action = action
        self.object = object
        self.detail = detail
        self.result = result
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// What a launch starts.
public enum LaunchKind: String, Codable, Sendable {
    case train
    case deploy
}

/// Where a launch stands: `running` until the reconciler closes it.
public enum LaunchStatus: String, Codable, Sendable {
    case running
    case done
    case failed
}

/// Written before a launch and closed after it, so that a controller killed
/// in between finds the launch on restart instead of starting a second copy.
/// Only the reconciler's launch journal writes these.
public struct IntentRecord: Codable, Sendable, Hashable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "intents"

    /// What is being done, uniquely: `train:churn:<digest>`.
    public var key: String
    public var kind: LaunchKind
    public var object: String
    /// JSON the launch's driver recorded to adopt or clean it up (run
    /// directory, process, job id); empty until the driver started it.
    public var detail: String
    public var status: LaunchStatus
    /// The Target the launch runs on; empty in records older than the column.
    public var target: String
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        key: String, kind: LaunchKind, object: String, detail: String, status: LaunchStatus, target: String,
        createdAt: Date, updatedAt: Date
    ) {
        self.key = key
        self.kind = kind
        self.object = object
        self.detail = detail
        self.status = status
        self.target = target
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// The last revision of a source that validated and was applied.
public struct SourceRecord: Codable, Sendable, Hashable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "sources"

    public var source: String
    public var lastGoodCommit: String
    public var lastSeenCommit: String
    public var lastError: String
    public var updatedAt: Date

    public init(source: String, lastGoodCommit: String, lastSeenCommit: String, lastError: String, updatedAt: Date) {
        self.source = source
        self.lastGoodCommit = lastGoodCommit
        self.lastSeenCommit = lastSeenCommit
        self.lastError = lastError
        self.updatedAt = updatedAt
    }
}

/// A file's content hash, remembered with what identifies its content on
/// disk so an unchanged file is never read twice (as DVC's state database).
public struct FileHashRecord: Codable, Sendable, Hashable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "file_hashes"

    public var path: String
    public var size: Int64
    public var mtimeNanos: Int64
    public var inode: Int64
    public var digest: String

    public init(path: String, size: Int64, mtimeNanos: Int64, inode: Int64, digest: String) {
        self.path = path
        self.size = size
        self.mtimeNanos = mtimeNanos
        self.inode = inode
        self.digest = digest
    }
}

/// Read access to the registered versions, all a driver may see of the
/// state store.
public protocol VersionCatalog: Sendable {
    func version(_ model: String, _ number: Int) throws -> VersionRecord?
    func versions(of model: String) throws -> [VersionRecord]
}
