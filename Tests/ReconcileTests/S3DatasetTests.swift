import Crypto
import Foundation
import GantryTestSupport
import HTTP
import Manifests
import Testing

@testable import Lineage
@testable import Reconciler
@testable import S3
@testable import State

/// Datasets in an S3-compatible store, against a real moto server: the
/// fingerprints come from signed HEAD and ListObjectsV2 requests.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct S3DatasetTests {
    func location(_ moto: MotoServer, bucket: String = "datasets", key: String) -> S3Location {
        let files = moto.credentialFiles()
        return S3Location(
            bucket: bucket, key: key, endpoint: moto.endpoint,
            credentials: AWSCredentials(
                accessKeyId: SecretRef(file: files.accessKeyId), secretAccessKey: SecretRef(file: files.secretAccessKey)))
    }

    func fingerprint(_ location: S3Location) async throws -> String {
        try await Fingerprinter(store: nil).fingerprint(s3: location, dataset: "events")
    }

    /// The ETag S3 (and moto) gives an object written in one PUT.
    func md5(_ text: String) -> String {
        Insecure.MD5.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    @Test func anObjectIsFingerprintedByItsETagWhichChangesOnlyWhenTheObjectDoes() async throws {
        try await MotoServer.with { moto in
            try await moto.put("datasets")
            try await moto.put("datasets/events/2024.csv", "user,clicks\n1,3\n")
            let object = location(moto, key: "events/2024.csv")

            let first = try await fingerprint(object)
            #expect(first == "s3etag:" + md5("user,clicks\n1,3\n"))
            try await moto.put("datasets/events/other.csv", "unrelated\n")
            #expect(try await fingerprint(object) == first, "an object left alone keeps its fingerprint")

            try await moto.put("datasets/events/2024.csv", "user,clicks\n1,4\n")
            #expect(try await fingerprint(object) == "s3etag:" + md5("user,clicks\n1,4\n"))
        }
    }

    @Test func aPrefixIsFingerprintedByEveryObjectUnderIt() async throws {
        try await MotoServer.with { moto in
            try await moto.put("datasets")
            let files = ["events/a.csv": "a\n1\n", "events/b.csv": "b\n22\n", "events/2024/c.csv": "c\n333\n"]
            for (key, body) in files { try await moto.put("datasets/\(key)", body) }
            try await moto.put("datasets/events/", "")  // a console's folder marker
            try await moto.put("datasets/outside.csv", "x\n")
            let prefix = location(moto, key: "events/")

            let expected = files.map { "\($0.key)\0\(md5($0.value))\0\($0.value.utf8.count)" }.sorted().joined(separator: "\n")
            let first = try await fingerprint(prefix)
            #expect(first == "s3:" + Digest.sha256(expected))

            try await moto.put("datasets/outside.csv", "y\n")
            #expect(try await fingerprint(prefix) == first, "objects outside the prefix do not count")

            try await moto.put("datasets/events/b.csv", "b\n23\n")
            let rewritten = try await fingerprint(prefix)
            #expect(rewritten != first)
            try await moto.delete("datasets/events/2024/c.csv")
            let removed = try await fingerprint(prefix)
            #expect(removed != rewritten && removed != first)
        }
    }

    @Test func aListingLongerThanOnePageIsFollowedToItsEnd() async throws {
        try await MotoServer.with { moto in
            try await moto.put("datasets")
            let keys = (1...5).map { "daily/day-\($0).csv" }
            for key in keys { try await moto.put("datasets/\(key)", key) }
            let bucket = try S3Bucket(location(moto, key: "daily/"), http: .shared)
            let objects = try await bucket.objects(prefix: "daily/", pageSize: 2)
            #expect(objects.map(\.key) == keys)
            #expect(objects.map(\.etag) == keys.map(md5))
        }
    }

    @Test func aMissingObjectOrAnEmptyPrefixFailsNamingBucketAndKeyButNoSecret() async throws {
        try await MotoServer.with { moto in
            try await moto.put("datasets")
            try await moto.put("datasets/events/a.csv", "a\n")
            var errors: [String] = []
            for (bucket, key) in [("datasets", "events/missing.csv"), ("datasets", "empty/"), ("no-such-bucket", "events/")] {
                let error = await #expect(throws: Fingerprinter.Failure.self) {
                    try await fingerprint(location(moto, bucket: bucket, key: key))
                }
                errors.append(error.map { "\($0)" } ?? "")
            }
            #expect(errors[0] == "dataset events: s3://datasets/events/missing.csv: no such object (HTTP 404)")
            #expect(errors[1] == "dataset events: s3://datasets/empty/: no objects under this prefix")
            #expect(errors[2].hasPrefix("dataset events: s3://no-such-bucket/events/: the store answered HTTP 404 NoSuchBucket"))
            for error in errors {
                #expect(!error.contains(MotoServer.secret) && !error.contains(MotoServer.accessKey))
            }

            let unset = S3Location(
                bucket: "datasets", key: "events/a.csv", endpoint: moto.endpoint,
                credentials: AWSCredentials(
                    accessKeyId: SecretRef(env: "GANTRY_TEST_UNSET_ACCESS_KEY"), secretAccessKey: SecretRef(env: "GANTRY_TEST_UNSET_SECRET")))
            let error = await #expect(throws: Fingerprinter.Failure.self) { try await fingerprint(unset) }
            #expect(
                error?.description
                    == "dataset events: s3://datasets/events/a.csv: credentials.accessKeyId: environment variable GANTRY_TEST_UNSET_ACCESS_KEY is not set")
        }
    }

    @Test func everyRequestIsSignedTheWayS3ChecksASignature() async throws {
        try await MotoServer.with { moto in
            try await moto.put("datasets")
            try await moto.put("datasets/events/june data+1~x.csv", "a\n")
            for n in 1...3 { try await moto.put("datasets/events/q 1+/part-\(n).csv", "\(n)\n") }
            try await moto.startRecording()

            _ = try await fingerprint(location(moto, key: "events/june data+1~x.csv"))
            _ = try await fingerprint(location(moto, key: "events/q 1+/"))
            let bucket = try S3Bucket(location(moto, key: "events/q 1+/"), http: .shared)
            #expect(try await bucket.objects(prefix: "events/q 1+/", pageSize: 1).count == 3)

            let requests = try await moto.recording()
            #expect(requests.map(\.method) == ["HEAD", "GET", "GET", "GET", "GET"])
            #expect(requests.contains { $0.url.contains("continuation-token=") })
            for request in requests {
                #expect(
                    SigV4Check.problem(
                        method: request.method, url: request.url, headers: request.headers,
                        secret: MotoServer.secret) == nil)
                #expect(request.headers["Authorization"]?.contains("Credential=\(MotoServer.accessKey)/") == true)
                #expect(request.headers["Authorization"]?.contains("/us-east-1/s3/aws4_request") == true)
            }
            let first = try #require(requests.first)
            #expect(
                SigV4Check.problem(method: first.method, url: first.url, headers: first.headers, secret: "wrong") != nil,
                "the check tells a wrong signature")
        }
    }

    @Test func urlsArePathStyleWithAnEndpointAndVirtualHostStyleOnAWS() throws {
        let aws = try S3Bucket(S3Location(bucket: "exports", key: "k", region: "eu-west-1"), http: .shared, environment: [:])
        #expect(aws.url(key: "2024/june data+1.csv") == "https://exports.s3.eu-west-1.amazonaws.com/2024/june%20data%2B1.csv")
        #expect(aws.isAnonymous, "no credentials anywhere: requests go unsigned")
        let defaultRegion = try S3Bucket(S3Location(bucket: "exports", key: "k"), http: .shared, environment: [:])
        #expect(defaultRegion.url(key: "k") == "https://exports.s3.us-east-1.amazonaws.com/k")

        let compatible = try S3Bucket(
            S3Location(bucket: "exports", key: "k", endpoint: "http://127.0.0.1:9000/"), http: .shared,
            environment: ["AWS_ACCESS_KEY_ID": "AKIAFROMENV", "AWS_SECRET_ACCESS_KEY": "secret-from-env"])
        #expect(compatible.url(key: "", query: [("prefix", "a b/"), ("list-type", "2")]) == "http://127.0.0.1:9000/exports?list-type=2&prefix=a%20b%2F")
        #expect(compatible.url(key: "a/b.csv") == "http://127.0.0.1:9000/exports/a/b.csv")
        #expect("\(compatible.auth)" == "aws-sigv4(us-east-1, s3)", "credentials from the environment sign, and do not print")
    }

    @Test func aReconcileRetrainsWhenAnObjectBehindTheModelsDatasetChanges() async throws {
        try await MotoServer.with { moto in
            try await moto.put("ml-data")
            try await moto.put("ml-data/events/day-1.csv", "user,clicks\n1,3\n")
            let project = try await S3Project.make(moto)
            let h = try Harness(project)

            let (_, report) = try await h.apply()
            #expect(report.result == .applied, "\(report.failed.map(\.error))")
            let v1 = try #require(try h.store.versions(of: "demo").first)
            let model = try String(contentsOfFile: v1.artifactPath, encoding: .utf8)
            #expect(model.contains(#""data": "s3://ml-data/events/""#), "the step is handed the dataset's URI: \(model)")
            #expect(Lineage.decode(v1.lineage)?.datasets["events"]?.hasPrefix("s3:") == true)
            #expect(try await h.plan().actions.isEmpty, "nothing changed in the bucket")

            try await moto.put("ml-data/events/day-1.csv", "user,clicks\n1,4\n")
            let plan = try await h.plan()
            #expect(plan.actions.map(\.kind) == [.train])
            #expect(plan.actions.first?.reason.hasPrefix("dataset events changed (s3:") == true, "\(plan.text)")
            try await h.apply()
            #expect(try h.store.versions(of: "demo").map(\.number) == [1, 2])

            try await moto.delete("ml-data/events/day-1.csv")
            let empty = try await h.plan()
            #expect(empty.actions.isEmpty)
            #expect(empty.warnings == ["Model/demo: cannot compute lineage: dataset events: s3://ml-data/events/: no objects under this prefix"])
        }
    }
}

/// The test project with its data in a bucket: the step gets the dataset's
/// `s3://` URI and records it, as a step that reads S3 itself would use it.
enum S3Project {
    static func make(_ moto: MotoServer) async throws -> TestProject {
        let project = try await TestProject(port: freePort())
        let credentials = moto.credentialFiles()
        project.remove("manifests/deployment.yaml")
        project.remove("data")
        project.write(
            "manifests/data.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Dataset
            metadata: { name: events }
            spec:
              source:
                s3:
                  bucket: ml-data
                  key: events/
                  endpoint: \(moto.endpoint)
                  credentials:
                    accessKeyId: { file: \(credentials.accessKeyId) }
                    secretAccessKey: { file: \(credentials.secretAccessKey) }
            """)
        project.write(
            "manifests/pipeline.yaml",
            TestProject.pipeline(extraStep: "")
                .replacingOccurrences(of: "${datasets.rows}", with: "${datasets.events}"))
        project.write(
            "manifests/model.yaml",
            try String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8)
                .replacingOccurrences(of: "datasets: [rows]", with: "datasets: [events]"))
        project.write(
            "src/train.py",
            """
            import json, os, sys
            uri, out, quality = sys.argv[1], sys.argv[2], float(sys.argv[3])
            with open(os.path.join(out, "model.json"), "w") as f:
                json.dump({"data": uri, "quality": quality}, f, sort_keys=True)
            with open(os.path.join(out, "metrics.json"), "w") as f:
                json.dump({"accuracy": quality}, f)
            """)
        try await project.commit("Read events from S3")
        return project
    }
}
