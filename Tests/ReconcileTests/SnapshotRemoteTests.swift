import Foundation
import GantryTestSupport
import Manifests
import Testing

@testable import Lineage
@testable import Reconciler
@testable import S3
@testable import State

/// Data snapshots pushed to an S3 bucket (moto) after training, and pulled
/// back by `reproduce` on a machine whose own snapshots are gone.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SnapshotRemoteTests {
    @Test func aSnapshotIsPushedAfterTrainingAndPulledBackToReproduce() async throws {
        try await MotoServer.with { moto in
            try await moto.put("snaps")
            let files = moto.credentialFiles()
            let credentials = AWSCredentials(accessKeyId: SecretRef(file: files.accessKeyId), secretAccessKey: SecretRef(file: files.secretAccessKey))
            let remote = try #require(SnapshotRemote(url: "s3://snaps/team", endpoint: moto.endpoint, credentials: credentials))
            let project = try await RemoteProject(policy: "manual")
            let h = try project.harness()
            let reconciler = Reconciler(store: h.store, workspace: h.workspace, snapshotRemote: remote)
            let (desired, plan) = try await reconciler.plan(try h.source.fetch())
            let report = try await reconciler.apply(plan, desired: desired, actor: "test")
            #expect(report.failed.isEmpty, "\(report.failed)")

            let bucket = try S3Bucket(S3Location(bucket: "snaps", key: "", endpoint: moto.endpoint, credentials: credentials))
            let keys = try await bucket.objects(prefix: "team/").map(\.key).sorted()
            #expect(keys.count == 3 && keys.filter { $0.hasPrefix("team/objects/") }.count == 2 && keys.first?.hasPrefix("team/dirs/") == true, "\(keys)")

            // This machine loses its snapshots and the data changes: the
            // version's data comes back from the bucket.
            try FileManager.default.removeItem(atPath: h.workspace.snapshots)
            try "x,y\n3,4\n5,6\n".write(toFile: project.data + "/b.csv", atomically: true, encoding: .utf8)
            let reproduced = try await reconciler.reproduce(model: "demo", number: 1, source: h.source)
            #expect(reproduced.matches, "\(reproduced)")
            #expect(reproduced.restored.first == "dataset rows: pulled its snapshot from s3://snaps/team/ (16 bytes)", "\(reproduced.restored)")

            // A bucket that lost an object says which, and nothing trains.
            try FileManager.default.removeItem(atPath: h.workspace.snapshots)
            let object = try #require(keys.first { $0.hasPrefix("team/objects/") })
            try await moto.delete("snaps/" + object)
            let broken = try await reconciler.reproduce(model: "demo", number: 1, source: h.source)
            #expect(broken.dataProblems.first?.contains("could not be pulled") == true, "\(broken.dataProblems)")
            #expect(broken.dataProblems.first?.contains("lacks object sha256:") == true, "\(broken.dataProblems)")
            #expect(broken.reproducedArtifact == nil)
            await h.tearDown()
            await project.stop()
        }
    }
}
