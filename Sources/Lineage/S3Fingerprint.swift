import Foundation
import Manifests
import S3

extension Fingerprinter {
    /// Fingerprint of an S3 object or prefix, read through the S3 REST API.
    ///
    /// - A key is one object: its ETag, from a HEAD request (`s3etag:<etag>`).
    /// - A prefix (a key ending in `/`, or an empty key for the whole bucket)
    ///   is every object under it, from ListObjectsV2: SHA-256 over the sorted
    ///   lines `key\0etag\0size` (`s3:<hex>`), so adding, removing or
    ///   rewriting any object changes it.
    ///
    /// Nothing is downloaded. Errors name the bucket and key, never a
    /// credential.
    ///
    ///     let fp = try await Fingerprinter(store: nil).fingerprint(s3: location, dataset: "clickstream")
    public func fingerprint(s3 location: S3Location, dataset: String) async throws -> String {
        let uri = "s3://\(location.bucket)/\(location.key)"
        do {
            let bucket = try S3Bucket(location, http: http)
            guard location.key.isEmpty || location.key.hasSuffix("/") else {
                return "s3etag:" + (try await bucket.etag(of: location.key))
            }
            // A console's "folder" is an empty object named like the prefix;
            // it is not data.
            let objects = try await bucket.objects(prefix: location.key).filter { $0.key != location.key }
            guard !objects.isEmpty else {
                throw Failure(dataset: dataset, message: "\(uri): no objects under this prefix")
            }
            return Self.prefixFingerprint(objects)
        } catch let failure as S3Bucket.Failure {
            throw Failure(dataset: dataset, message: "\(uri): \(failure.message)")
        }
    }

    /// A prefix's fingerprint from its listing: SHA-256 over the sorted
    /// lines `key\0etag\0size`.
    static func prefixFingerprint(_ objects: [S3Bucket.Object]) -> String {
        "s3:" + Digest.sha256(objects.map { "\($0.key)\0\($0.etag)\0\($0.size)" }.sorted().joined(separator: "\n"))
    }
}
