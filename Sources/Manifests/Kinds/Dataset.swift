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
}

public struct DataSource: Sendable, Hashable, Codable {
    /// A file or directory on the machine that trains, relative to the
    /// project root or absolute. Fingerprinted by content.
    public var path: String?
    /// An HTTP(S) URL, fingerprinted by ETag, Last-Modified or a digest.
    public var url: String?
    /// An S3-compatible object or prefix, fingerprinted by ETag.
    public var s3: S3Location?
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
