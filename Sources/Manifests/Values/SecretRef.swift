import Foundation
import YAML

/// Where a secret lives: an environment variable or a file on the machine
/// that runs Gantry. Never the secret itself, so manifests can be public and
/// plans, logs and the state store never hold one.
///
///     token: { env: MLFLOW_TOKEN }
///     token: { file: /etc/gantry/ray-token }
public struct SecretRef: Sendable, Hashable, Codable {
    public var env: String?
    public var file: String?

    public init(env: String? = nil, file: String? = nil) {
        self.env = env
        self.file = file
    }

    enum CodingKeys: String, CodingKey { case env, file }

    public init(from decoder: any Decoder) throws {
        if let node = decoder.yamlNode, case .scalar = node.kind, !node.isNull {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "secret written inline; reference it instead: { env: VARIABLE } or { file: /path/to/secret }"))
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        env = try c.decodeIfPresent(String.self, forKey: .env)
        file = try c.decodeIfPresent(String.self, forKey: .file)
        if (env == nil) == (file == nil) {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "a secret reference needs exactly one of \"env\" or \"file\""))
        }
    }

    public struct Unavailable: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The secret's value, read now from the environment or the file. Errors
    /// name the reference, never a value.
    public func read() throws -> String {
        if let variable = env {
            guard let value = ProcessInfo.processInfo.environment[variable] else {
                throw Unavailable(description: "environment variable \(variable) is not set")
            }
            return value
        }
        let path = file ?? ""
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Unavailable(description: "cannot read secret file \(path)")
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// What a log may say about this secret.
    public var redacted: String { env.map { "env:\($0)" } ?? "file:\(file ?? "")" }
}

/// An environment variable's value: a literal, or a secret by reference.
///
///     env:
///       PYTHONUNBUFFERED: "1"
///       HF_TOKEN: { secret: { env: HF_TOKEN } }
public enum EnvValue: Sendable, Hashable, Codable {
    case literal(String)
    case secret(SecretRef)

    enum CodingKeys: String, CodingKey { case secret }

    public init(from decoder: any Decoder) throws {
        if let node = decoder.yamlNode, case .mapping = node.kind {
            if node["secret"] == nil, node["env"] != nil || node["file"] != nil {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription: "a secret in env is written { secret: { env: NAME } } or { secret: { file: PATH } }"))
            }
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self = .secret(try c.decode(SecretRef.self, forKey: .secret))
        } else if decoder.yamlNode == nil, let c = try? decoder.container(keyedBy: CodingKeys.self) {
            // JSON (a job file, an agent's request) carries what `encode`
            // wrote: `{"secret": {"env": …}}` for a reference.
            self = .secret(try c.decode(SecretRef.self, forKey: .secret))
        } else {
            self = .literal(try decoder.singleValueContainer().decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .literal(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .secret(let ref):
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(ref, forKey: .secret)
        }
    }

    /// Words that say "this is a credential" in a variable name; a literal
    /// value under one is refused, because a manifest lives in Git for
    /// everyone to read. Matched as whole `_`-separated words, so
    /// TOKENIZERS_PARALLELISM is not a secret but HF_TOKEN is.
    static let secretWords: Set<String> = ["TOKEN", "PASSWORD", "PASSWD", "SECRET", "CREDENTIAL", "CREDENTIALS", "APIKEY"]
    static let secretPairs: Set<String> = ["API_KEY", "ACCESS_KEY", "PRIVATE_KEY", "SECRET_KEY"]

    public static func looksSecret(_ name: String) -> Bool {
        let words = name.uppercased().split(separator: "_").map(String.init)
        if words.contains(where: secretWords.contains) { return true }
        return zip(words, words.dropFirst()).contains { secretPairs.contains("\($0)_\($1)") }
    }
}
