import Foundation
import Manifests

/// A training run as the runner executes it: steps with every placeholder
/// resolved, written to `job.json` in the run directory. Secrets stay
/// references; the runner reads them when it starts a step.
public struct Job: Codable, Sendable {
    public struct Step: Codable, Sendable {
        public var name: String
        public var argv: [String]
        public var env: [String: EnvValue]
        public var workingDirectory: String
        public var timeoutSeconds: Double?
        public var outputDirectory: String
        public var logPath: String
        /// Files the step must leave in its output directory.
        public var expectedOutputs: [String]
        /// Steps whose outputs this one reads; their output digests complete
        /// the cache key.
        public var dependsOn: [String]
        /// The static part of the step's cache key; nil never caches.
        public var cacheKey: String?
    }

    public var model: String
    public var lineageDigest: String
    public var lineage: String
    public var baseEnvironment: [String: String]
    /// Where step outputs are cached; nil runs every step.
    public var cacheDirectory: String?
    public var steps: [Step]
}

/// What the runner leaves in `result.json` when it ends.
public struct JobResult: Codable, Sendable {
    public struct StepResult: Codable, Sendable {
        public var name: String
        /// `succeeded`, `cached`, `failed`, `timed out`.
        public var status: String
        public var seconds: Double
        public var log: String
    }

    public var succeeded: Bool
    public var error: String?
    public var steps: [StepResult]
}

enum JobFiles {
    static func job(_ runDirectory: String) -> String { (runDirectory as NSString).appendingPathComponent("job.json") }
    static func result(_ runDirectory: String) -> String { (runDirectory as NSString).appendingPathComponent("result.json") }
    static func runnerLog(_ runDirectory: String) -> String { (runDirectory as NSString).appendingPathComponent("runner.log") }

    static func write<T: Encodable>(_ value: T, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let temporary = path + ".tmp"
        try encoder.encode(value).write(to: URL(fileURLWithPath: temporary))
        _ = rename(temporary, path)  // atomic: readers see all or nothing
    }

    static func read<T: Decodable>(_ type: T.Type, from path: String) -> T? {
        try? load(type, from: path)
    }

    /// Like `read`, with the reason when the file is missing or does not
    /// decode, for an error that says which.
    static func load<T: Decodable>(_ type: T.Type, from path: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else { throw DriverError("cannot read \(path)") }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw DriverError("\(path) does not decode: \(error)")
        }
    }
}
