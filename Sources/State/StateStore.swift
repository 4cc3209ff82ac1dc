import Foundation
import GRDB
import Synchronization

/// Gantry's state in SQLite under the state directory: versions, deployments,
/// reconciles, audit log, intents. Safe to share between tasks.
///
///     let store = try StateStore(directory: ".gantry")
///     let versions = try store.versions(of: "churn")
public final class StateStore: VersionCatalog, Sendable {
    public let directory: String
    let db: DatabaseQueue
    /// Only read and written inside `db` accesses, which the queue serialises.
    nonisolated(unsafe) let versionCache = Box<VersionCache?>(nil)
    /// How many times this store wrote to the versions table; only touched
    /// inside `db` accesses.
    nonisolated(unsafe) let versionWrites = Box<Int>(0)

    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        var config = Configuration()
        config.busyMode = .timeout(10)
        // Write-ahead logging: a commit appends to one log file instead of
        // creating, syncing and deleting a rollback journal, several times
        // per reconcile; readers (`gantry status` beside a running
        // controller) do not block the writer. NORMAL synchronisation in WAL
        // mode survives a crash of the process; a power loss can drop the
        // last commits, which the next reconcile observes and redoes.
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        db = try DatabaseQueue(path: (directory as NSString).appendingPathComponent("state.db"), configuration: config)
        _ = try db.writeWithoutTransaction { db in try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") }
        // Two processes opening a new store (a controller and `gantry status`)
        // can both find a migration pending; the loser's attempt fails once
        // the winner has committed it, and the retry finds nothing to do.
        var attempt = 0
        while true {
            do {
                try Self.migrator.migrate(db)
                break
            } catch {
                attempt += 1
                if attempt >= 5 { throw error }
                usleep(useconds_t(20_000 * attempt))
            }
        }
    }

    /// Opens a store only if one exists; commands that only read use this so
    /// that asking about a fresh directory does not create one.
    public static func existing(directory: String) throws -> StateStore? {
        guard FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("state.db")) else { return nil }
        return try StateStore(directory: directory)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.create(table: "versions") { t in
                t.column("model", .text).notNull()
                t.column("number", .integer).notNull()
                t.column("digest", .text).notNull()
                t.column("lineage", .text).notNull()
                t.column("metrics", .text).notNull()
                t.column("artifactPath", .text).notNull()
                t.column("artifactDigest", .text).notNull()
                t.column("commit", .text).notNull()
                t.column("gatesPassed", .boolean).notNull()
                t.column("gateReport", .text).notNull()
                t.column("createdAt", .datetime).notNull()
                t.primaryKey(["model", "number"])
                t.uniqueKey(["model", "digest"])
            }
            try db.create(table: "deployments") { t in
                t.primaryKey("name", .text)
                t.column("model", .text).notNull()
                t.column("version", .integer).notNull()
                t.column("target", .text).notNull()
                t.column("address", .text).notNull()
                t.column("backendPort", .integer).notNull()
                t.column("specDigest", .text).notNull()
                t.column("serveProcess", .text).notNull()
                t.column("forwarderProcess", .text).notNull()
                t.column("commit", .text).notNull()
                t.column("updatedAt", .datetime).notNull()
            }
            try db.create(table: "reconciles") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("startedAt", .datetime).notNull()
                t.column("finishedAt", .datetime)
                t.column("source", .text).notNull()
                t.column("commit", .text).notNull()
                t.column("author", .text).notNull()
                t.column("subject", .text).notNull()
                t.column("result", .text).notNull()
                t.column("error", .text).notNull()
                t.column("actions", .integer).notNull()
            }
            try db.create(table: "audit") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("time", .datetime).notNull()
                t.column("reconcileId", .integer)
                t.column("actor", .text).notNull()
                t.column("action", .text).notNull()
                t.column("object", .text).notNull()
                t.column("detail", .text).notNull()
                t.column("result", .text).notNull()
            }
            try db.create(table: "intents") { t in
                t.primaryKey("key", .text)
                t.column("kind", .text).notNull()
                t.column("object", .text).notNull()
                t.column("detail", .text).notNull()
                t.column("status", .text).notNull()
                t.column("createdAt", .datetime).notNull()
                t.column("updatedAt", .datetime).notNull()
            }
            try db.create(table: "sources") { t in
                t.primaryKey("source", .text)
                t.column("lastGoodCommit", .text).notNull()
                t.column("lastSeenCommit", .text).notNull()
                t.column("lastError", .text).notNull()
                t.column("updatedAt", .datetime).notNull()
            }
            try db.create(table: "file_hashes") { t in
                t.primaryKey("path", .text)
                t.column("size", .integer).notNull()
                t.column("mtimeNanos", .integer).notNull()
                t.column("inode", .integer).notNull()
                t.column("digest", .text).notNull()
            }
        }
        m.registerMigration("v2-promotion") { db in
            try db.alter(table: "versions") { t in t.add(column: "promotion", .text).notNull().defaults(to: "") }
        }
        m.registerMigration("v3-suspensions") { db in
            try db.create(table: "suspensions") { t in
                t.primaryKey("object", .text)
                t.column("actor", .text).notNull()
                t.column("reason", .text).notNull()
                t.column("createdAt", .datetime).notNull()
            }
        }
        m.registerMigration("v4-directory-fingerprints") { db in
            try db.create(table: "directory_fingerprints") { t in
                t.primaryKey("path", .text)
                t.column("signature", .text).notNull()
                t.column("fingerprint", .text).notNull()
            }
        }
        m.registerMigration("v5-deployment-detail") { db in
            try db.alter(table: "deployments") { t in
                t.add(column: "detail", .text).notNull().defaults(to: "")
            }
        }
        m.registerMigration("v6-manifest-snapshots") { db in
            try db.create(table: "manifest_snapshots") { t in
                t.primaryKey("source", .text)
                t.column("commitID", .text).notNull()
                t.column("files", .blob).notNull()
            }
        }
        m.registerMigration("v7-reconcile-owner") { db in
            try db.alter(table: "reconciles") { t in
                t.add(column: "owner", .text).notNull().defaults(to: "")
            }
        }
        m.registerMigration("v8-intent-target") { db in
            try db.alter(table: "intents") { t in
                t.add(column: "target", .text).notNull().defaults(to: "")
            }
        }
        // The local driver's columns move into its opaque `detail` (the
        // shape of LocalServing, keys sorted as Digest.canonicalJSON sorts
        // them); no other driver used them.
        m.registerMigration("v9-driver-detail") { db in
            try db.execute(
                sql: """
                    UPDATE deployments SET detail = json_object('backendPort', backendPort, 'forwarder', json(forwarderProcess),
                                                                'serve', json(serveProcess))
                    WHERE serveProcess != '' AND detail = '' AND json_valid(serveProcess) AND json_valid(forwarderProcess)
                    """)
            try db.alter(table: "deployments") { t in
                t.drop(column: "backendPort")
                t.drop(column: "serveProcess")
                t.drop(column: "forwarderProcess")
            }
        }
        // One record per Deployment and target: a Deployment serves on
        // several. SQLite cannot change a primary key in place.
        m.registerMigration("v10-deployment-targets") { db in
            try db.create(table: "deployments_v10") { t in
                t.column("name", .text).notNull()
                t.column("model", .text).notNull()
                t.column("version", .integer).notNull()
                t.column("target", .text).notNull()
                t.column("address", .text).notNull()
                t.column("specDigest", .text).notNull()
                t.column("commit", .text).notNull()
                t.column("updatedAt", .datetime).notNull()
                t.column("detail", .text).notNull().defaults(to: "")
                t.primaryKey(["name", "target"])
            }
            try db.execute(
                sql: """
                    INSERT INTO deployments_v10 (name, model, version, target, address, specDigest, "commit", updatedAt, detail)
                    SELECT name, model, version, target, address, specDigest, "commit", updatedAt, detail FROM deployments
                    """)
            try db.drop(table: "deployments")
            try db.rename(table: "deployments_v10", to: "deployments")
            try db.create(table: "holds") { t in
                t.primaryKey("deployment", .text)
                t.column("model", .text).notNull()
                t.column("version", .integer).notNull()
                t.column("specDigest", .text).notNull()
                t.column("previous", .integer)
                t.column("reason", .text).notNull()
                t.column("createdAt", .datetime).notNull()
            }
        }
        // Deployments a person rolled back: automatic promotion leaves them
        // alone until the pin changes in Git.
        m.registerMigration("v11-manual-pins") { db in
            try db.create(table: "manualPins") { t in
                t.primaryKey("deployment", .text)
                t.column("version", .integer).notNull()
                t.column("actor", .text).notNull()
                t.column("reason", .text).notNull()
                t.column("createdAt", .datetime).notNull()
            }
        }
        return m
    }

    // MARK: - Versions

    public func versions(of model: String) throws -> [VersionRecord] {
        try db.read { try VersionRecord.filter(Column("model") == model).order(Column("number")).fetchAll($0) }
    }

    public func allVersions() throws -> [VersionRecord] {
        let byModel = try versionsByModel()
        return byModel.keys.sorted().flatMap { byModel[$0]! }
    }

    /// Every version, grouped by model and ordered by number: what each plan
    /// compares lineages against. Versions are read from SQLite only when
    /// the versions changed since the last call. This store's own writes to
    /// the versions table update the cache in place (a reconcile that
    /// registers one version does not decode 10,000 rows again); a commit
    /// by another process (`PRAGMA data_version`) has them read afresh.
    public func versionsByModel() throws -> [String: [VersionRecord]] {
        try stampedVersionsByModel().byModel
    }

    /// The versions with their stamp, which tells a later read which
    /// models' versions changed in between.
    public func stampedVersionsByModel() throws -> (byModel: [String: [VersionRecord]], stamp: VersionsStamp) {
        try db.read { db in
            let key = try versionCacheKey(db)
            if let cached = versionCache.value, cached.key == key { return (cached.byModel, cached.stamp) }
            var byModel: [String: [VersionRecord]] = [:]
            for v in try VersionRecord.order(Column("model"), Column("number")).fetchAll(db) {
                byModel[v.model, default: []].append(v)
            }
            let cache = VersionCache(key: key, byModel: byModel, stamp: VersionsStamp())
            versionCache.value = cache
            return (byModel, cache.stamp)
        }
    }

    /// Where the versions table stands: other connections' commits, and
    /// this store's own writes to the table.
    private func versionCacheKey(_ db: Database) throws -> VersionCache.Key {
        VersionCache.Key(dataVersion: try Int.fetchOne(db, sql: "PRAGMA data_version") ?? 0, ownWrites: versionWrites.value)
    }

    /// Runs `write`, which changes the versions table, and brings the cache
    /// along with `update` when it was current before; else, or when the
    /// transaction fails, the cache is dropped and the next read decodes
    /// the table.
    /// `update` returns the model whose versions it changed.
    private func writeVersions<T>(_ write: (Database) throws -> T, update: (inout [String: [VersionRecord]], T) -> String) throws -> T {
        do {
            return try db.write { db in
                let current = try versionCacheKey(db) == versionCache.value?.key
                let result = try write(db)
                versionWrites.value += 1
                if current, var cache = versionCache.value {
                    cache.stamp = cache.stamp.adding(update(&cache.byModel, result))
                    cache.key = try versionCacheKey(db)
                    versionCache.value = cache
                } else {
                    versionCache.value = nil
                }
                return result
            }
        } catch {
            db.inDatabase { _ in versionCache.value = nil }
            throw error
        }
    }

    public func version(_ model: String, _ number: Int) throws -> VersionRecord? {
        try db.read { try VersionRecord.fetchOne($0, key: ["model": model, "number": number]) }
    }

    public func version(_ model: String, digest: String) throws -> VersionRecord? {
        try db.read { try VersionRecord.filter(Column("model") == model && Column("digest") == digest).fetchOne($0) }
    }

    /// Registers a version under the next free number, atomically.
    public func registerVersion(_ make: (Int) -> VersionRecord) throws -> VersionRecord {
        try writeVersions(
            { db in
                let last = try Int.fetchOne(db, sql: "SELECT MAX(number) FROM versions WHERE model = ?", arguments: [make(0).model]) ?? 0
                let record = make(last + 1)
                try record.insert(db)
                // As stored (dates to the database's precision): what a read gives.
                return try VersionRecord.fetchOne(db, key: ["model": record.model, "number": record.number]) ?? record
            },
            update: { byModel, record in
                byModel[record.model, default: []].append(record)  // the highest number: the order holds
                return record.model
            })
    }

    /// Inserts versions recorded elsewhere, numbers and all, into a store
    /// that has none of them (a plan against another controller's state).
    public func importVersions(_ records: [VersionRecord]) throws {
        try db.write { db in
            for record in records { try record.insert(db) }
            versionWrites.value += 1
            versionCache.value = nil
        }
    }

    public func setPromotion(_ model: String, _ number: Int, _ promotion: String) throws {
        try writeVersions(
            { db in
                try db.execute(sql: "UPDATE versions SET promotion = ? WHERE model = ? AND number = ?", arguments: [promotion, model, number])
            },
            update: { byModel, _ in
                if let i = byModel[model]?.firstIndex(where: { $0.number == number }) { byModel[model]![i].promotion = promotion }
                return model
            })
    }

    // MARK: - Deployments

    /// Every target's record, by Deployment name, then target.
    public func deployments() throws -> [DeploymentRecord] {
        try db.read { try DeploymentRecord.order(Column("name"), Column("target")).fetchAll($0) }
    }

    /// A Deployment's records, one per target it serves on.
    public func deployments(named name: String) throws -> [DeploymentRecord] {
        try db.read { try DeploymentRecord.filter(Column("name") == name).order(Column("target")).fetchAll($0) }
    }

    /// The record of `name` on `target`; without a target, its first record
    /// (an agent's store and single-target Deployments have one).
    public func deployment(_ name: String, target: String? = nil) throws -> DeploymentRecord? {
        try db.read { db in
            if let target { return try DeploymentRecord.fetchOne(db, key: ["name": name, "target": target]) }
            return try DeploymentRecord.filter(Column("name") == name).order(Column("target")).fetchOne(db)
        }
    }

    public func save(_ deployment: DeploymentRecord) throws {
        try db.write { try deployment.save($0) }
    }

    /// Forgets `name` on `target`, or on every target when none is given.
    public func removeDeployment(_ name: String, target: String? = nil) throws {
        try db.write { db in
            if let target {
                _ = try DeploymentRecord.deleteOne(db, key: ["name": name, "target": target])
            } else {
                _ = try DeploymentRecord.filter(Column("name") == name).deleteAll(db)
            }
        }
    }

    // MARK: - Reconciles and audit

    public func begin(_ reconcile: ReconcileRecord) throws -> ReconcileRecord {
        try db.write { db in
            var r = reconcile
            try r.insert(db)
            return r
        }
    }

    /// Closes every reconcile still `running` whose owner is not `alive`
    /// (its process was killed, or the machine restarted): it is recorded
    /// as `interrupted`, so history never shows a reconcile running for
    /// ever. Returns how many were closed.
    @discardableResult
    public func closeAbandonedReconciles(alive: (String) -> Bool) throws -> Int {
        try db.write { db in
            var closed = 0
            for var r in try ReconcileRecord.filter(Column("result") == "running").fetchAll(db) where !alive(r.owner) {
                r.result = "interrupted"
                r.finishedAt = Date()
                r.error = (r.error.isEmpty ? "" : r.error + "\n") + "its process ended before the reconcile finished; what it did is in the audit log"
                try r.update(db)
                closed += 1
            }
            return closed
        }
    }

    /// Inserts reconciles recorded elsewhere, ids and all.
    public func importReconciles(_ records: [ReconcileRecord]) throws {
        try db.write { db in
            for var record in records { try record.insert(db) }
        }
    }

    public func finish(_ reconcile: ReconcileRecord) throws {
        try db.write { try reconcile.update($0) }
    }

    public func reconciles(limit: Int = 50) throws -> [ReconcileRecord] {
        try db.read { try ReconcileRecord.order(Column("id").desc).limit(limit).fetchAll($0) }
    }

    public func audit(_ entry: AuditRecord) throws {
        try db.write { db in
            var e = entry
            try e.insert(db)
        }
    }

    public func auditLog(limit: Int = 200) throws -> [AuditRecord] {
        try db.read { try AuditRecord.order(Column("id").desc).limit(limit).fetchAll($0) }
    }

    // MARK: - Intents

    public func openIntents() throws -> [IntentRecord] {
        try db.read { try IntentRecord.filter(Column("status") == LaunchStatus.running.rawValue).order(Column("createdAt")).fetchAll($0) }
    }

    public func intent(_ key: String) throws -> IntentRecord? {
        try db.read { try IntentRecord.fetchOne($0, key: key) }
    }

    public func save(_ intent: IntentRecord) throws {
        try db.write { try intent.save($0) }
    }

    // MARK: - Sources

    public func source(_ name: String) throws -> SourceRecord? {
        try db.read { try SourceRecord.fetchOne($0, key: name) }
    }

    public func sources() throws -> [SourceRecord] {
        try db.read { try SourceRecord.order(Column("source")).fetchAll($0) }
    }

    public func save(_ source: SourceRecord) throws {
        try db.write { try source.save($0) }
    }

    // MARK: - File hashes

    public func fileHash(_ path: String) throws -> FileHashRecord? {
        try db.read { try FileHashRecord.fetchOne($0, key: path) }
    }

    public func save(_ hash: FileHashRecord) throws {
        try db.write { try hash.save($0) }
    }

    /// Every remembered hash of a file under `prefix` (a directory path
    /// ending in `/`), in one query.
    public func fileHashes(under prefix: String) throws -> [String: FileHashRecord] {
        // Paths under the prefix sort between it and the prefix with its last
        // byte incremented ("/" + 1 is "0").
        let upper = String(prefix.dropLast()) + "0"
        // Raw rows rather than Codable records: this runs over every file of
        // a dataset on every check, and decoding dominated it.
        return try db.read { db in
            var out: [String: FileHashRecord] = [:]
            let rows = try Row.fetchCursor(
                db, sql: "SELECT path, size, mtimeNanos, inode, digest FROM file_hashes WHERE path >= ? AND path < ?",
                arguments: [prefix, upper])
            while let row = try rows.next() {
                let path: String = row[0]
                out[path] = FileHashRecord(path: path, size: row[1], mtimeNanos: row[2], inode: row[3], digest: row[4])
            }
            return out
        }
    }

    /// A directory's last fingerprint and the signature of the stat listing
    /// it was computed from.
    public func directoryFingerprint(_ path: String) throws -> (signature: String, fingerprint: String)? {
        try db.read { db in
            try Row.fetchOne(db, sql: "SELECT signature, fingerprint FROM directory_fingerprints WHERE path = ?", arguments: [path])
                .map { ($0[0], $0[1]) }
        }
    }

    public func saveDirectoryFingerprint(_ path: String, signature: String, fingerprint: String) throws {
        try db.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO directory_fingerprints (path, signature, fingerprint) VALUES (?, ?, ?)",
                arguments: [path, signature, fingerprint])
        }
    }

    /// The manifest files of `source` (a local repository, ref and path) as
    /// last read at commit `commitID`, in `ManifestSnapshot`'s encoding.
    public func manifestSnapshot(_ source: String) throws -> (commitID: String, files: [UInt8])? {
        try db.read { db in
            try Row.fetchOne(db, sql: "SELECT commitID, files FROM manifest_snapshots WHERE source = ?", arguments: [source])
                .map { ($0[0], [UInt8]($0[1] as Data)) }
        }
    }

    public func saveManifestSnapshot(_ source: String, commitID: String, files: [UInt8]) throws {
        try db.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO manifest_snapshots (source, commitID, files) VALUES (?, ?, ?)",
                arguments: [source, commitID, Data(files)])
        }
    }

    /// Remembers many hashes in one transaction.
    public func save(_ hashes: [FileHashRecord]) throws {
        try db.write { db in for h in hashes { try h.insert(db, onConflict: .replace) } }
    }
}

/// The versions table as last read, and the database state it was read at.
struct VersionCache {
    struct Key: Equatable {
        var dataVersion: Int
        var ownWrites: Int
    }

    var key: Key
    var byModel: [String: [VersionRecord]]
    var stamp: VersionsStamp
}

/// Where a store's versions stood when they were read. Two stamps of one
/// store tell which models' versions changed between the reads, for as
/// long as the store kept its cache up to date itself; a read of the whole
/// table (another process's commit, say) starts a new log, and then they
/// cannot tell.
public struct VersionsStamp: Sendable, Equatable {
    /// The models whose versions changed, in order, once per change;
    /// append-only, shared by every stamp since the log began.
    final class Log: Sendable {
        let changes = Mutex<[String]>([])
    }

    let log: Log
    /// How many changes of the log this stamp includes.
    let count: Int

    /// Past this many changes a new log starts, to bound it.
    static let limit = 100_000

    init() {
        log = Log()
        count = 0
    }

    private init(log: Log, count: Int) {
        self.log = log
        self.count = count
    }

    /// The stamp after a change to `model`'s versions; only the store's
    /// latest stamp is ever extended.
    func adding(_ model: String) -> VersionsStamp {
        guard count < Self.limit else { return VersionsStamp() }
        log.changes.withLock { $0.append(model) }
        return VersionsStamp(log: log, count: count + 1)
    }

    /// The models whose versions differ between `earlier` and this stamp,
    /// or nil when the stamps cannot tell (another log, or a later stamp).
    public func changed(since earlier: VersionsStamp) -> Set<String>? {
        guard earlier.log === log, earlier.count <= count else { return nil }
        return log.changes.withLock { Set($0[earlier.count..<count]) }
    }

    public static func == (a: VersionsStamp, b: VersionsStamp) -> Bool {
        a.log === b.log && a.count == b.count
    }
}

final class Box<Value> {
    var value: Value
    init(_ value: Value) { self.value = value }
}
