import Foundation
import GRDB
import Testing

@testable import State

/// A state directory written by an earlier Gantry opens with its records
/// intact.
@Suite struct StateMigrationTests {
    @Test func theLocalDriversColumnsMoveIntoItsDetailAndOtherDriversKeepTheirs() throws {
        let directory = NSTemporaryDirectory() + "gantry-migration-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: directory + "/state.db")
        try StateStore.migrator.migrate(queue, upTo: "v8-intent-target")
        try queue.write { db in
            let insert = """
                INSERT INTO deployments (name, model, version, target, address, backendPort, specDigest, serveProcess,
                                         forwarderProcess, "commit", updatedAt, detail) VALUES (?, 'churn', 3, ?, ?, ?, 'sha256:s', ?, ?, 'c', ?, ?)
                """
            try db.execute(
                sql: insert,
                arguments: [
                    "churn-prod", "local", "127.0.0.1:8080", 41234,
                    #"{"pid":11,"startTime":110}"#, #"{"pid":12,"startTime":120}"#, Date(), "",
                ])
            try db.execute(
                sql: insert,
                arguments: [
                    "churn-cloud", "aws", "arn:aws:sagemaker:endpoint/churn", 0, "", "", Date(),
                    #"{"endpoint":"churn"}"#,
                ])
        }
        let store = try StateStore(directory: directory)
        let local = try #require(try store.deployment("churn-prod"))
        #expect(local.detail == #"{"backendPort":41234,"forwarder":{"pid":12,"startTime":120},"serve":{"pid":11,"startTime":110}}"#)
        #expect(local.version == 3 && local.address == "127.0.0.1:8080" && local.specDigest == "sha256:s")
        #expect(try store.deployment("churn-cloud")?.detail == #"{"endpoint":"churn"}"#)
        // The old columns are gone: a new record saves without them.
        try store.save(
            DeploymentRecord(
                name: "new", model: "churn", version: 1, target: "local", address: "a", specDigest: "s",
                commit: "c", updatedAt: Date(), detail: "{}"))
        #expect(try store.deployments().count == 3)
    }

    @Test func deploymentsAreKeptPerTargetAndAStoreFromBeforeKeepsItsRecords() throws {
        let directory = NSTemporaryDirectory() + "gantry-migration-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: directory + "/state.db")
        try StateStore.migrator.migrate(queue, upTo: "v9-driver-detail")
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO deployments (name, model, version, target, address, specDigest, "commit", updatedAt, detail)
                    VALUES ('churn-prod', 'churn', 3, 'local', '127.0.0.1:8080', 'sha256:s', 'c', ?, '{"x":1}')
                    """, arguments: [Date()])
        }
        let store = try StateStore(directory: directory)
        let kept = try #require(try store.deployment("churn-prod", target: "local"))
        #expect(kept.version == 3 && kept.detail == #"{"x":1}"# && kept.address == "127.0.0.1:8080")
        // The same Deployment on a second target is a record of its own.
        var other = kept
        other.target = "node1"
        other.version = 4
        try store.save(other)
        #expect(try store.deployments(named: "churn-prod").map { "\($0.target) v\($0.version)" } == ["local v3", "node1 v4"])
        try store.removeDeployment("churn-prod", target: "local")
        #expect(try store.deployments().map(\.target) == ["node1"])
        // A held version is recorded, read and released.
        try store.save(
            HoldRecord(
                deployment: "churn-prod", model: "churn", version: 4, specDigest: "sha256:s", previous: 3, reason: "node1 failed",
                createdAt: Date()))
        #expect(try store.hold("churn-prod")?.previous == 3)
        #expect(try store.release("churn-prod"))
        #expect(try store.holds().isEmpty)
    }
}
