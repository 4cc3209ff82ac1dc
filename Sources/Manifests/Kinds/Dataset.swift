import YAML

/// A data source and how to fingerprint it. Exactly one of `path`, `url` or
/// `s3`.
///
///     kind: Dataset
///     metadata: { name: churn-data }
///     spec:
///       source: { path: data/ }
public struct DatasetSpec: Sendable, Hashable, Codable {
    public var source: DataSource
    public var description: String?
    /// Whether a training keeps the data in the snapshot store: by default
    /// for an absolute `path`; a `url` or `s3` source is downloaded into the
    /// store before the training when true, and the steps read that copy.
    public var snapshot: Bool?

    public init(source: DataSource, description: String? = nil, snapshot: Bool? = nil) {
        self.source = source
        self.description = description
        self.snapshot = snapshot
    }

    /// Whether trainings keep this data in the snapshot store.
    public var snapshotted: Bool {
        if let path = source.path { return path.hasPrefix("/") && snapshot != false }
        return snapshot == true
    }

    /// Whether the controller downloads this data into the snapshot store
    /// before a training (a `url` or `s3` source with `snapshot: true`).
    public var downloaded: Bool { source.path == nil && snapshot == true }
}

public struct DataSource: Sendable, Hashable, Codable {
    /// A file or directory on the machine that trains, relative to the
    /// project root or absolute. Fingerprinted by content.
    public var path: String?
    /// An HTTP(S) URL, fingerprinted by ETag, Last-Modified or a digest.
    public var url: String?
    /// An S3-compatible object or prefix, fingerprinted by ETag.
    public var s3: S3Location?

    public init(path: String? = nil, url: String? = nil, s3: S3Location? = nil) {
        self.path = path
        self.url = url
        self.s3 = s3
    }
}

public struct S3Location: Sendable, Hashable, Codable {
    public var bucket: String
    /// An object key, or a prefix ending in `/`.
    public var key: String
    public var region: String?
    /// For S3-compatible stores other than AWS.
    public var endpoint: String?
    public var credentials: AWSCredentials?

    public init(bucket: String, key: String, region: String? = nil, endpoint: String? = nil, credentials: AWSCredentials? = nil) {
        self.bucket = bucket
        self.key = key
        self.region = region
        self.endpoint = endpoint
        self.credentials = credentials
    }
}

public struct AWSCredentials: Sendable, Hashable, Codable {
    public var accessKeyId: SecretRef
    public var secretAccessKey: SecretRef

    public init(accessKeyId: SecretRef, secretAccessKey: SecretRef) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
    }
}

extension Entry where Spec == DatasetSpec {
    /// This Dataset read from the local `path` instead (a snapshot's copy,
    /// or its restored data), with its name and origin.
    public func reading(_ path: String) -> Entry<DatasetSpec> {
        var copy = object
        copy.spec.source = DataSource(path: path)
        return Entry(object: copy, origin: origin)
    }
}
