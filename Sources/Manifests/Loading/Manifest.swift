import YAML

/// One decoded manifest of any kind.
public enum Manifest: Sendable {
    case target(Entry<TargetSpec>)
    case dataset(Entry<DatasetSpec>)
    case pipeline(Entry<PipelineSpec>)
    case model(Entry<ModelSpec>)
    case deployment(Entry<DeploymentSpec>)

    public var kind: Kind {
        switch self {
        case .target: return .Target
        case .dataset: return .Dataset
        case .pipeline: return .Pipeline
        case .model: return .Model
        case .deployment: return .Deployment
        }
    }

    public var name: String {
        switch self {
        case .target(let e): return e.name
        case .dataset(let e): return e.name
        case .pipeline(let e): return e.name
        case .model(let e): return e.name
        case .deployment(let e): return e.name
        }
    }

    public var origin: Origin {
        switch self {
        case .target(let e): return e.origin
        case .dataset(let e): return e.origin
        case .pipeline(let e): return e.origin
        case .model(let e): return e.origin
        case .deployment(let e): return e.origin
        }
    }
}

/// The manifests of one file and what is wrong with them on their own. A
/// pure function of the file's bytes, so it can be cached by blob id.
public struct DecodedFile: Sendable {
    public var path: String
    public var manifests: [Manifest]
    public var diagnostics: [Diagnostic]
    /// Objects that failed to decode, by kind and name when the name could be
    /// read, so that references to them are not reported as missing too.
    public var undecodable: [Kind: Set<String>] = [:]
    /// False when the file is not YAML at all: nothing is known of its objects.
    public var parsed = true
}

/// Turns one file's bytes into manifests.
///
///     let decoded = ManifestDecoder.decode(path: "models/churn.yaml", bytes: bytes)
public enum ManifestDecoder {
    public static func decode(path: String, bytes: [UInt8]) -> DecodedFile {
        var out = DecodedFile(path: path, manifests: [], diagnostics: [])
        let documents: [Document]
        do {
            documents = try YAMLParser.parse(bytes, file: path)
        } catch let e as YAMLSyntaxError {
            out.diagnostics.append(Diagnostic(file: path, mark: e.mark, field: FieldPath(), message: e.message))
            out.parsed = false
            return out
        } catch {
            out.diagnostics.append(Diagnostic(file: path, mark: Mark(line: 1, column: 1), field: FieldPath(), message: "\(error)"))
            return out
        }
        let text = SourceText(bytes)
        for document in documents {
            guard let root = document.root else { continue }
            let origin = Origin(file: path, document: document.index, text: text)
            do {
                if let manifest = try decode(root, origin: origin) {
                    out.diagnostics += ObjectValidator.check(manifest)
                    out.manifests.append(manifest)
                }
            } catch let failure {
                if let kind = root["kind"]?.scalar.flatMap(Kind.init(rawValue:)), let name = root["metadata"]?["name"]?.scalar {
                    out.undecodable[kind, default: []].insert(name)
                }
                out.diagnostics += failure.problems.map {
                    Diagnostic(file: path, mark: $0.mark, field: $0.path, message: $0.message)
                }
            }
        }
        return out
    }

    /// Nil for documents that belong to some other tool (no Gantry apiVersion
    /// and no Gantry kind), so a repo can hold other YAML.
    static func decode(_ root: Node, origin: Origin) throws(DecodingFailure) -> Manifest? {
        // A document that is not a mapping is no Gantry object (an Ansible
        // play list, say): leave it to its tool.
        guard case .mapping = root.kind else { return nil }
        let apiVersion = root["apiVersion"]?.scalar
        let kindText = root["kind"]?.scalar
        let ours = apiVersion?.hasPrefix("gantry.dev/") ?? false
        if !ours {
            if let apiVersion, apiVersion.lowercased().contains("gantry"), let node = root["apiVersion"] {
                throw failure(node, [.key("apiVersion")], "unknown API group in \"\(apiVersion.clipped)\"; expected \(manifestAPIVersion)")
            }
            if apiVersion == nil, let k = kindText, Kind(rawValue: k) != nil {
                throw failure(root, [.key("apiVersion")], "missing required field \"apiVersion\"; expected \(manifestAPIVersion)")
            }
            return nil
        }
        if apiVersion != manifestAPIVersion, let node = root["apiVersion"] {
            throw failure(node, [.key("apiVersion")], "unsupported apiVersion \"\(apiVersion!.clipped)\"; expected \(manifestAPIVersion)")
        }
        guard let kindText, let kind = Kind(rawValue: kindText) else {
            let node = root["kind"] ?? root
            let known = Kind.allCases.map(\.rawValue)
            let hint = kindText.map { Suggestion.hint(for: $0, in: known) } ?? ""
            throw failure(
                node, [.key("kind")],
                (kindText.map { "unknown kind \"\($0.clipped)\"\(hint)" } ?? "missing required field \"kind\"")
                    + "; expected one of: \(known.joined(separator: ", "))")
        }
        switch kind {
        case .Target: return .target(Entry(object: try object(root, TargetSpec.init(strict:)), origin: origin))
        case .Dataset: return .dataset(Entry(object: try object(root, DatasetSpec.init(strict:)), origin: origin))
        case .Pipeline: return .pipeline(Entry(object: try object(root, PipelineSpec.init(strict:)), origin: origin))
        case .Model: return .model(Entry(object: try object(root, ModelSpec.init(strict:)), origin: origin))
        case .Deployment: return .deployment(Entry(object: try object(root, DeploymentSpec.init(strict:)), origin: origin))
        }
    }

    /// The strict reader's value for a well-formed document; `YAMLDecoder`'s
    /// value or problems for anything else.
    static func object<Spec>(_ root: Node, _ strict: (Node) -> Spec?) throws(DecodingFailure) -> Object<Spec> {
        if let object = Object(strict: root, spec: strict) { return object }
        return try YAMLDecoder().decode(Object<Spec>.self, from: root)
    }

    private static func failure(_ node: Node, _ path: [FieldPath.Component], _ message: String) -> DecodingFailure {
        DecodingFailure(problems: [DecodingProblem(path: FieldPath(path), mark: node.mark, message: message)])
    }
}
