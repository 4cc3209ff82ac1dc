import Foundation
import GantryTestSupport
import Manifests
import Testing

@testable import Lineage
@testable import Reconciler
@testable import S3
@testable import State
@testable import Targets

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

    /// An agent node trains on the data snapshot it pulls from the bucket:
    /// the controller keeps and pushes the planned data before the run, and
    /// the job names the node's own read-only copy.
    @Test func anAgentTrainsOnTheSnapshotItPullsFromTheBucket() async throws {
        try await MotoServer.with { moto in
            try await moto.put("snaps")
            let files = moto.credentialFiles()
            let credentials = AWSCredentials(accessKeyId: SecretRef(file: files.accessKeyId), secretAccessKey: SecretRef(file: files.secretAccessKey))
            let remote = try #require(SnapshotRemote(url: "s3://snaps/team", endpoint: moto.endpoint, credentials: credentials))
            let node = try await NodeAgent.start(
                "node-data", arguments: ["--snapshot-remote", "s3://snaps/team", "--snapshot-endpoint", moto.endpoint],
                environment: ["AWS_ACCESS_KEY_ID": MotoServer.accessKey, "AWS_SECRET_ACCESS_KEY": MotoServer.secret])
            defer { Task { await node.stop() } }
            let project = try await TestProject(port: freePort())
            let data = makeTemporaryDirectory("agent-data")
            let (a, b) = ("x,y\n1,2\n", "x,y\n3,4\n5,6\n")
            try a.write(toFile: data + "/a.csv", atomically: true, encoding: .utf8)
            try b.write(toFile: data + "/b.csv", atomically: true, encoding: .utf8)
            project.writeRowsDataset(path: data)
            let tokenFile = makeTemporaryDirectory("agent-token") + "/token"
            try NodeAgent.token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
            project.write("manifests/targets.yaml", node.target(tokenFile: tokenFile))
            let model = try String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8)
            project.write("manifests/model.yaml", model.replacingOccurrences(of: "target: local", with: "target: node-data"))
            try FileManager.default.removeItem(atPath: project.directory + "/manifests/deployment.yaml")
            try await project.commit("Train on the node, from the bucket")
            let h = try Harness(project)
            let reconciler = Reconciler(store: h.store, workspace: h.workspace, snapshotRemote: remote)
            let (desired, plan) = try await reconciler.plan(try h.source.fetch())
            let report = try await reconciler.apply(plan, desired: desired, actor: "test")
            #expect(report.failed.isEmpty, "\(report.failed)")

            let version = try #require(try h.store.version("demo", 1))
            let trained = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: version.artifactPath))) as? [String: Any]
            #expect(trained?["data"] as? String == Digest.sha256(a + b), "the node read the planned bytes")
            let checkouts = node.directory + "/snapshots/checkouts"
            let copies = try FileManager.default.contentsOfDirectory(atPath: checkouts)
            #expect(copies.count == 1, "the node's own copy")
            #expect(try FileManager.default.contentsOfDirectory(atPath: checkouts + "/" + copies[0]).sorted() == ["a.csv", "b.csv"])
            let runs = try FileManager.default.contentsOfDirectory(atPath: node.directory + "/runs")
            let job = try String(contentsOfFile: node.directory + "/runs/\(try #require(runs.first))/job.json", encoding: .utf8)
            #expect(job.contains(checkouts) && !job.contains(data), "the step read the node's copy, not the controller's path: \(job.prefix(600))")
            let keys = try await S3Bucket(S3Location(bucket: "snaps", key: "", endpoint: moto.endpoint, credentials: credentials))
                .objects(prefix: "team/").map(\.key)
            #expect(keys.filter { $0.hasPrefix("team/objects/") }.count == 2, "\(keys)")
            await h.tearDown()
        }
    }

    /// A node asked to train on a snapshot it lacks, with no remote to pull
    /// it from, refuses the run and says why.
    @Test func aNodeWithoutARemoteRefusesARunThatNeedsASnapshot() async throws {
        let directory = makeTemporaryDirectory("agent-no-remote")
        let node = AgentNode(workspace: Workspace(root: directory), store: try StateStore(directory: directory))
        let fingerprint = "sha256:" + String(repeating: "ab", count: 32)
        await #expect {
            try await node.pullData([fingerprint: ""])
        } throws: { error in
            "\(error)".contains("this node has no --snapshot-remote to pull it from") && "\(error)".contains(fingerprint)
        }
    }
}
