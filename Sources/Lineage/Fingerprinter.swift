import Foundation
import HTTP
import Manifests
import Source
import State

/// Fingerprints of the data behind Datasets.
///
/// - A relative path is data committed with the project: its Git object id
///   is already a content hash, so nothing is read.
/// - An absolute path is hashed by content; each file's hash is remembered
///   with its size, mtime and inode, so unchanged files are not read again.
/// - A URL is fingerprinted by a HEAD request: its ETag or digest header;
///   a server that gives only Last-Modified has the content hashed, once
///   per Last-Modified and length (so `touch` alone changes nothing).
/// - An S3 object or prefix by its ETags (S3Fingerprint.swift).
///
///     let fp = try await Fingerprinter(store: store).fingerprint(dataset, in: revision)
public struct Fingerprinter: Sendable {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var dataset: String
        public var message: String
        public var description: String { "dataset \(dataset): \(message)" }
    }

    let store: StateStore?
    let cacheWrites: Bool
    let http: HTTPClient

    public init(store: StateStore?, cacheWrites: Bool = true, http: HTTPClient = .shared) {
        self.store = store
        self.cacheWrites = cacheWrites
        self.http = http
    }

    public func fingerprint(_ dataset: Entry<DatasetSpec>, in revision: Revision?) async throws -> String {
        let source = dataset.spec.source
        if let path = source.path {
            if path.hasPrefix("/") { return try fingerprint(localPath: path, dataset: dataset.name) }
            guard let revision else { throw Failure(dataset: dataset.name, message: "\(path) is in Git, and no revision was read") }
            guard let id = try revision.object(at: path) else {
                throw Failure(
                    dataset: dataset.name,
                    message:
                        "\(revision.repositoryPath(path)) is not in commit \(revision.commit.id.short); commit the data, or give an absolute path for data outside Git"
                )
            }
            return "git:\(id.hex)"
        }
        if let url = source.url { return try await fingerprint(url: url, dataset: dataset.name) }
        if let s3 = source.s3 { return try await fingerprint(s3: s3, dataset: dataset.name) }
        throw Failure(dataset: dataset.name, message: "the source names no path, url or s3")
    }

    /// Content hash of a file, or of a directory's files with their paths.
    public func fingerprint(localPath path: String, dataset: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw Failure(dataset: dataset, message: "\(path): no such file or directory")
        }
        if !isDirectory.boolValue {
            do { return "sha256:" + (try hash(file: path)) } catch let failure as Failure {
                throw Failure(dataset: dataset, message: failure.message)
            }
        }
        return try LocalFiles(store: store, cacheWrites: cacheWrites).fingerprint(directory: path)
    }

    func hash(file path: String) throws -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { throw Failure(dataset: path, message: "\(path): cannot stat") }
        guard UInt32(st.st_mode) & UInt32(S_IFMT) == UInt32(S_IFREG) else {
            throw Failure(dataset: path, message: "\(path) is not a regular file (a device, FIFO or socket is not data)")
        }
        let mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        if let known = try store?.fileHash(path), known.size == Int64(st.st_size), known.mtimeNanos == mtime,
            known.inode == Int64(st.st_ino)
        {
            return known.digest
        }
        let digest = try Digest.sha256(file: path)
        if cacheWrites { try store?.save(FileHashRecord(path: path, size: Int64(st.st_size), mtimeNanos: mtime, inode: Int64(st.st_ino), digest: digest)) }
        return digest
    }

    func fingerprint(url: String, dataset: String) async throws -> String {
        let response: HTTPResponse
        do {
            response = try await http.send(HTTPRequest(method: "HEAD", url: url, timeout: .seconds(10)))
        } catch {
            throw Failure(dataset: dataset, message: "\(error)")
        }
        guard (200..<300).contains(response.status) else {
            throw Failure(dataset: dataset, message: "HEAD \(HTTPError.redact(url)) answered \(response.status)")
        }
        // An ETag names the content; so does a digest header. Last-Modified
        // names only a moment, which `touch` moves: with nothing better the
        // content itself is hashed, once per Last-Modified and length.
        if let named = Self.contentName(response) { return named }
        if let modified = response.headers["last-modified"] {
            return try await contentDigest(
                url: url, dataset: dataset, modified: modified,
                length: response.headers["content-length"].flatMap { Int64($0) })
        }
        throw Failure(dataset: dataset, message: "\(HTTPError.redact(url)) gives no ETag, Last-Modified or digest header to fingerprint")
    }

    /// The fingerprint an answer's headers give the content, when they
    /// name it: an ETag, else a digest header.
    static func contentName(_ response: HTTPResponse) -> String? {
        if let etag = response.headers["etag"] { return "etag:\(etag)" }
        return (response.headers["repr-digest"] ?? response.headers["digest"] ?? response.headers["x-checksum-sha256"]).map { "digest:\($0)" }
    }

    /// Objects larger than this are not downloaded to be hashed; their
    /// Last-Modified and length stand in.
    static let largestHashedDownload: Int64 = 256 << 20

    /// `sha256:<hex>` of the body at `url`, remembered under a digest of the
    /// URL (never the URL itself, which may carry a token) with the
    /// Last-Modified and length it was read at.
    func contentDigest(url: String, dataset: String, modified: String, length: Int64?) async throws -> String {
        let stamp = "modified:\(modified);size:\(length.map(String.init) ?? "?")"
        guard let length, length <= Self.largestHashedDownload else { return stamp }
        let key = "url:" + Digest.sha256(Array(url.utf8))
        let moment = Int64(Digest.sha256(Array(modified.utf8)).prefix(15), radix: 16) ?? 0
        if let known = try store?.fileHash(key), known.size == length, known.mtimeNanos == moment {
            return known.digest
        }
        let response: HTTPResponse
        do {
            var request = HTTPRequest(url: url, timeout: .seconds(300))
            request.maximumBodyBytes = Int(Self.largestHashedDownload)  // whatever the HEAD claimed
            response = try await http.send(request)
        } catch {
            throw Failure(dataset: dataset, message: "\(error)")
        }
        guard (200..<300).contains(response.status) else {
            throw Failure(dataset: dataset, message: "GET \(HTTPError.redact(url)) answered \(response.status)")
        }
        let digest = "sha256:" + Digest.sha256(response.body)
        if cacheWrites { try store?.save(FileHashRecord(path: key, size: length, mtimeNanos: moment, inode: 0, digest: digest)) }
        return digest
    }
}
