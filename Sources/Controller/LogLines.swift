import Foundation
import Logging

/// swift-log output as the controller writes it: `time level msg key=value`
/// or one flat JSON object per line (`{"level":…,"msg":…,"time":…}`), with
/// secrets redacted on the way out. In JSON, a metadata value given as a
/// number or a boolean (`.stringConvertible(3)`) is written as one, so a
/// log query can compare it; everything else is a string.
///
///     LoggingSystem.bootstrap { label in LogLines(label: label, json: true, redactor: Redactor(secrets: [secret])) }
public struct LogLines: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let json: Bool
    let redactor: Redactor
    let write: @Sendable (String) -> Void

    public init(
        label: String, json: Bool, redactor: Redactor = Redactor(),
        write: @escaping @Sendable (String) -> Void = LogLines.standardOutput
    ) {
        self.json = json
        self.redactor = redactor
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    private static let lock = NSLock()

    public static let standardOutput: @Sendable (String) -> Void = { line in
        lock.withLock { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
    }

    public func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, new in new }) {
            fields[key] = redactor.redact(key: key, value: Self.flatten(value))
        }
        let message = redactor.redact(event.message.description)
        let time = ISO8601DateFormatter().string(from: Date())
        let level = event.level == .warning ? "warning" : event.level.rawValue
        if json {
            var object: [String: Field] = fields.mapValues { .text($0) }
            for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, new in new }) {
                guard case .stringConvertible(let c) = value else { continue }
                switch c {
                case let b as Bool: object[key] = .bool(b)
                case let i as Int: object[key] = .int(i)
                case let i as Int64: object[key] = .int(Int(i))
                case let d as Double where d.isFinite: object[key] = .double(d)
                default: break
                }
            }
            object["time"] = .text(time)
            object["level"] = .text(level)
            object["msg"] = .text(message)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            write(String(decoding: (try? encoder.encode(object)) ?? Data(), as: UTF8.self))
        } else {
            let rest = fields.sorted { $0.key < $1.key }.map { key, value in
                value.contains(" ") || value.contains("\"") || value.isEmpty ? "\(key)=\(String(reflecting: value))" : "\(key)=\(value)"
            }
            write(([time, level, message] + rest).joined(separator: " "))
        }
    }

    /// A JSON log field.
    enum Field: Encodable {
        case text(String), int(Int), double(Double), bool(Bool)

        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .text(let s): try c.encode(s)
            case .int(let i): try c.encode(i)
            case .double(let d): try c.encode(d)
            case .bool(let b): try c.encode(b)
            }
        }
    }

    static func flatten(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s): return s
        case .stringConvertible(let c): return c.description
        case .array(let a): return "[" + a.map(flatten).joined(separator: ", ") + "]"
        case .dictionary(let d): return "{" + d.sorted { $0.key < $1.key }.map { "\($0.key): \(flatten($0.value))" }.joined(separator: ", ") + "}"
        }
    }
}

/// Keeps secrets out of log lines: values of fields whose names say they
/// hold a secret, the known secret values themselves wherever they appear,
/// bearer tokens and credentials in URLs.
public struct Redactor: Sendable {
    public static let mask = "[redacted]"
    static let secretKeys = ["token", "secret", "password", "authorization", "cookie", "signature", "credential"]
    let secrets: [String]

    public init(secrets: [String] = []) {
        self.secrets = secrets.filter { $0.count >= 4 }
    }

    public func redact(key: String, value: String) -> String {
        let lower = key.lowercased()
        if Self.secretKeys.contains(where: { lower.contains($0) }) { return Self.mask }
        return redact(value)
    }

    public func redact(_ text: String) -> String {
        var out = text
        for secret in secrets where out.contains(secret) {
            out = out.replacingOccurrences(of: secret, with: Self.mask)
        }
        out = out.replacingOccurrences(of: #"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"#, with: "$1\(Self.mask)", options: .regularExpression)
        out = out.replacingOccurrences(of: #"://[^/@\s]+@"#, with: "://\(Self.mask)@", options: .regularExpression)
        return out
    }
}
