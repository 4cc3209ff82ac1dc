import Foundation
import HTTP
import Manifests
import S3

/// Data behind a URL or in S3 with `snapshot: true`: downloaded into the
/// snapshot store before a training, checked against the fingerprint the
/// plan recorded, so that the training reads the bytes its lineage names.
extension Fingerprinter {
    /// The largest download kept: the bodies are held in memory.
    public static let largestSnapshotDownload = 512 << 20

    /// The files of `dataset` as `fingerprint` names them: a path relative
    /// to an S3 prefix (`""` for one object or URL) and its bytes. Throws
    /// when what is served now has another fingerprint (the data changed
    /// since the plan).
    public func download(_ dataset: Entry<DatasetSpec>, expecting fingerprint: String) async throws -> [(path: String, bytes: [UInt8])] {
        let name = dataset.name
        let source = dataset.spec.source
        let files: [(path: String, bytes: [UInt8])]
        let served: String
        if let url = source.url {
            var request = HTTPRequest(url: url, timeout: .seconds(600))
            request.maximumBodyBytes = Self.largestSnapshotDownload
            let response: HTTPResponse
            do { response = try await http.send(request) } catch { throw Failure(dataset: name, message: "\(error)") }
            guard (200..<300).contains(response.status) else {
                throw Failure(dataset: name, message: "GET \(HTTPError.redact(url)) answered \(response.status)")
            }
            // The same precedence as the plan's HEAD (fingerprint(url:)).
            if let named = Self.contentName(response) {
                served = named
            } else if let modified = response.headers["last-modified"] {
                served =
                    Int64(response.body.count) <= Self.largestHashedDownload
                    ? "sha256:" + Digest.sha256(response.body) : "modified:\(modified);size:\(response.body.count)"
            } else {
                served = "none"
            }
            files = [("", response.body)]
        } else if let location = source.s3 {
            let uri = "s3://\(location.bucket)/\(location.key)"
            do {
                let bucket = try S3Bucket(location, http: http)
                if location.key.isEmpty || location.key.hasSuffix("/") {
                    let objects = try await bucket.objects(prefix: location.key).filter { $0.key != location.key }
                    served = Self.prefixFingerprint(objects)
                    guard served == fingerprint else { throw Failure(dataset: name, message: Self.changed(fingerprint, served)) }
                    var fetched: [(path: String, bytes: [UInt8])] = []
                    var total = 0
                    for object in objects.sorted(by: { $0.key < $1.key }) {
                        let (body, etag) = try await bucket.get(key: object.key, limit: Self.largestSnapshotDownload - total)
                        guard etag == object.etag else {
                            throw Failure(dataset: name, message: "\(uri)\(object.key.dropFirst(location.key.count)) changed while it was downloaded")
                        }
                        total += body.count
                        fetched.append((String(object.key.dropFirst(location.key.count)), body))
                    }
                    files = fetched
                } else {
                    let (body, etag) = try await bucket.get(key: location.key, limit: Self.largestSnapshotDownload)
                    served = "s3etag:" + etag
                    files = [("", body)]
                }
            } catch let failure as S3Bucket.Failure {
                throw Failure(dataset: name, message: "\(uri): \(failure.message)")
            }
        } else {
            throw Failure(dataset: name, message: "only data behind a url or in s3 is downloaded")
        }
        guard served == fingerprint else { throw Failure(dataset: name, message: Self.changed(fingerprint, served)) }
        return files
    }

    static func changed(_ planned: String, _ served: String) -> String {
        "the data changed since the plan (planned \(Lineage.short(planned)), served \(Lineage.short(served))); the next plan trains on the new data"
    }
}
