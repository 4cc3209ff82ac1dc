import YAML

// Strict readers (see `Strict`) of the remaining manifest types and of the
// value types with hand-written `init(from:)`; each accepts exactly the
// inputs that `init(from:)` turns into a value, or fewer.

extension DatasetSpec {
    init?(strict n: Node) {
        var source: DataSource?
        var description: String?
        var snapshot: Bool?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "source": return Strict.set(&source, v, DataSource.init(strict:))
            case "description": return Strict.setOptional(&description, v, Strict.string)
            case "snapshot": return Strict.setOptional(&snapshot, v, Strict.bool)
            default: return false
            }
        }
        guard ok, let source else { return nil }
        self.init(source: source, description: description, snapshot: snapshot)
    }
}

extension DataSource {
    init?(strict n: Node) {
        var path: String?
        var url: String?
        var s3: S3Location?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "path": return Strict.setOptional(&path, v, Strict.string)
            case "url": return Strict.setOptional(&url, v, Strict.string)
            case "s3": return Strict.setOptional(&s3, v, S3Location.init(strict:))
            default: return false
            }
        }
        guard ok else { return nil }
        self.init(path: path, url: url, s3: s3)
    }
}

extension S3Location {
    init?(strict n: Node) {
        var bucket: String?
        var key: String?
        var region: String?
        var endpoint: String?
        var credentials: AWSCredentials?
        let ok = Strict.fields(n) { k, v in
            switch k {
            case "bucket": return Strict.set(&bucket, v, Strict.string)
            case "key": return Strict.set(&key, v, Strict.string)
            case "region": return Strict.setOptional(&region, v, Strict.string)
            case "endpoint": return Strict.setOptional(&endpoint, v, Strict.string)
            case "credentials": return Strict.setOptional(&credentials, v, AWSCredentials.init(strict:))
            default: return false
            }
        }
        guard ok, let bucket, let key else { return nil }
        self.init(bucket: bucket, key: key, region: region, endpoint: endpoint, credentials: credentials)
    }
}

extension AWSCredentials {
    init?(strict n: Node) {
        var accessKeyId: SecretRef?
        var secretAccessKey: SecretRef?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "accessKeyId": return Strict.set(&accessKeyId, v, SecretRef.init(strict:))
            case "secretAccessKey": return Strict.set(&secretAccessKey, v, SecretRef.init(strict:))
            default: return false
            }
        }
        guard ok, let accessKeyId, let secretAccessKey else { return nil }
        self.init(accessKeyId: accessKeyId, secretAccessKey: secretAccessKey)
    }
}

extension TargetSpec {
    init?(strict n: Node) {
        var type: TargetType?
        var endpoint: String?
        var region: String?
        var credentials: [String: SecretRef]?
        var capabilities: [Capability]?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "type": return Strict.set(&type, v, Strict.value)
            case "endpoint": return Strict.setOptional(&endpoint, v, Strict.string)
            case "region": return Strict.setOptional(&region, v, Strict.string)
            case "credentials": return Strict.setOptional(&credentials, v) { Strict.map($0, SecretRef.init(strict:)) }
            case "capabilities": return Strict.setOptional(&capabilities, v) { Strict.list($0, Strict.value) }
            default: return false
            }
        }
        guard ok, let type else { return nil }
        self.init(type: type, endpoint: endpoint)
        self.region = region
        self.credentials = credentials
        self.capabilities = capabilities
    }
}

extension SecretRef {
    /// A mapping with exactly one of `env` and `file`.
    init?(strict n: Node) {
        var env: String?
        var file: String?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "env": return Strict.setOptional(&env, v, Strict.string)
            case "file": return Strict.setOptional(&file, v, Strict.string)
            default: return false
            }
        }
        guard ok, (env == nil) != (file == nil) else { return nil }
        self.init(env: env, file: file)
    }
}

extension EnvValue {
    /// A string, or a mapping whose only key is `secret`.
    init?(strict n: Node) {
        if let s = Strict.string(n) {
            self = .literal(s)
            return
        }
        guard n.tag == nil, case .mapping(let pairs) = n.kind, pairs.count == 1,
            pairs[0].key.tag == nil, case .scalar("secret", _) = pairs[0].key.kind,
            let ref = SecretRef(strict: pairs[0].value)
        else { return nil }
        self = .secret(ref)
    }
}

extension Command {
    /// A non-empty list of strings.
    init?(strict n: Node) {
        guard let argv = Strict.strings(n), !argv.isEmpty else { return nil }
        self.init(argv)
    }
}

extension TimeSpan {
    init?(strict n: Node) {
        guard let text = Strict.string(n), let span = TimeSpan(parsing: text) else { return nil }
        self = span
    }
}

extension ParamValue {
    /// Quoted scalars stay strings; plain ones are read as `init(from:)` reads them.
    init?(strict n: Node) {
        guard let s = Strict.string(n), case .scalar(_, let style) = n.kind else { return nil }
        self = style.isQuoted ? .string(s) : ParamValue(plain: s)
    }
}
