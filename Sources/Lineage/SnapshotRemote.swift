import Crypto
import Foundation
import Manifests
import S3

/// An S3-compatible bucket that holds snapshots under a prefix, laid out
/// as the local store is (`<prefix>objects/<2 hex>/<62 hex>`,
/// `<prefix>dirs/<fingerprint hex>.json`): pushed after a version trains,
/// pulled by `reproduce` and `data checkout` on any machine.
public struct SnapshotRemote: Sendable {
    public let location: S3Location

    /// `s3://bucket/prefix`, with the endpoint of an S3-compatible store
    /// (path style) or none for AWS; without `credentials`, those of
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    public init?(url: String, endpoint: String? = nil, region: String? = nil, credentials: AWSCredentials? = nil) {
        guard url.hasPrefix("s3://") else { return nil }
        let rest = url.dropFirst(5)
        let bucket = String(rest.prefix { $0 != "/" })
        guard !bucket.isEmpty else { return nil }
        var prefix = String(rest.dropFirst(bucket.count).drop { $0 == "/" })
        if !prefix.isEmpty, !prefix.hasSuffix("/") { prefix += "/" }
        location = S3Location(bucket: bucket, key: prefix, region: region, endpoint: endpoint, credentials: credentials)
    }

    public var description: String { "s3://\(location.bucket)/\(location.key)" }

    func bucket() throws -> S3Bucket {
        do { return try S3Bucket(location) } catch { throw SnapshotStore.Failure(description: "snapshot remote \(description): \(error)") }
    }

    func objectKey(_ digest: String) -> String {
        let hex = digest.hasPrefix("sha256:") ? String(digest.dropFirst(7)) : digest
        return location.key + "objects/\(hex.prefix(2))/\(hex.dropFirst(2))"
    }

    func manifestKey(_ fingerprint: String) -> String {
        location.key + "dirs/\(SnapshotStore.fileKey(fingerprint)).json"
    }

    /// Uploads the objects of `fingerprint`'s manifest that the bucket
    /// lacks, then the manifest; returns the bytes uploaded.
    @discardableResult
    public func push(_ fingerprint: String, from store: SnapshotStore) async throws -> Int64 {
        guard let manifest = store.manifest(fingerprint) else { throw SnapshotStore.Failure(description: "no local snapshot of \(fingerprint)") }
        let bucket = try bucket()
        var uploaded: Int64 = 0
        do {
            for file in manifest.files where try await bucket.etagIfPresent(of: objectKey(file.digest)) == nil {
                guard let bytes = FileManager.default.contents(atPath: store.objectPath(file.digest)) else {
                    throw SnapshotStore.Failure(description: "object \(file.digest) is missing locally")
                }
                try await bucket.put(key: objectKey(file.digest), body: Array(bytes))
                uploaded += Int64(bytes.count)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try await bucket.put(key: manifestKey(fingerprint), body: Array(try encoder.encode(manifest)), contentType: "application/json")
        } catch let failure as S3Bucket.Failure {
            throw SnapshotStore.Failure(description: "pushing to \(description): \(failure)")
        }
        return uploaded
    }

    /// Downloads `fingerprint`'s manifest and the objects `store` lacks,
    /// checking each one's digest; returns the bytes downloaded, or nil
    /// when the bucket has no such snapshot.
    public func pull(_ fingerprint: String, into store: SnapshotStore) async throws -> Int64? {
        let bucket = try bucket()
        do {
            guard let raw = try await bucket.getIfPresent(key: manifestKey(fingerprint)),
                let manifest = try? JSONDecoder().decode(SnapshotStore.Manifest.self, from: Data(raw)), manifest.fingerprint == fingerprint
            else { return nil }
            var downloaded: Int64 = 0
            for digest in store.missing(manifest) {
                guard let bytes = try await bucket.getIfPresent(key: objectKey(digest)) else {
                    throw SnapshotStore.Failure(description: "\(description) lacks object \(digest) of \(manifest.dataset)")
                }
                guard "sha256:" + SHA256.hash(data: bytes).map({ String(format: "%02x", $0) }).joined() == digest else {
                    throw SnapshotStore.Failure(description: "object \(digest) from \(description) does not have that digest")
                }
                try store.add(bytes, as: digest)
                downloaded += Int64(bytes.count)
            }
            try store.save(manifest)
            return downloaded
        } catch let failure as S3Bucket.Failure {
            throw SnapshotStore.Failure(description: "pulling from \(description): \(failure)")
        }
    }
}
