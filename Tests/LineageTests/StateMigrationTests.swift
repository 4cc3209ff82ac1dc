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
}
