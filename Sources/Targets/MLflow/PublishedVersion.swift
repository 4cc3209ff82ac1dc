import Foundation
import Lineage
import State

/// A Gantry version as the MLflow registry shows it: the run's name, tags,
/// params and metrics, and the model version's tags, which carry the
/// version's lineage so a registry user can trace it without Gantry.
///
///     let published = PublishedVersion(version)
///     published.versionTags  // gantry.version, gantry.lineage, gantry.commit, …
struct PublishedVersion: Sendable {
    static let versionTag = "gantry.version"
    static let lineageTag = "gantry.lineage"
    static let modelTag = "gantry.model"

    let record: VersionRecord
    let lineage: Lineage?

    init(_ record: VersionRecord) {
        self.record = record
        self.lineage = Lineage.decode(record.lineage)
    }

    var runName: String { "\(record.model)-v\(record.number)" }

    /// What finds the run again after a crash: the model and the lineage.
    var runIdentity: [String: String] { [Self.modelTag: record.model, Self.lineageTag: record.digest] }

    var runTags: [MLflowAPI.Tag] {
        (runIdentity.sorted { $0.key < $1.key } + [(Self.versionTag, "\(record.number)"), ("mlflow.source.git.commit", record.commit)])
            .map { MLflowAPI.Tag(key: $0.0, value: $0.1) }
    }

    var versionTags: [MLflowAPI.Tag] {
        [
            (Self.versionTag, "\(record.number)"),
            (Self.lineageTag, record.digest),
            ("gantry.commit", record.commit),
            ("gantry.code-tree", lineage?.codeTree ?? ""),
            ("gantry.datasets", Digest.canonicalJSON(lineage?.datasets ?? [:])),
            ("gantry.params", Digest.canonicalJSON(lineage?.params ?? [:])),
            ("gantry.artifact-digest", record.artifactDigest),
        ].map { MLflowAPI.Tag(key: $0.0, value: $0.1) }
    }

    var description: String { "Gantry \(record.model) v\(record.number) (lineage \(record.digest.prefix(19)))" }

    var params: [MLflowAPI.Param] {
        (lineage?.params ?? [:]).sorted { $0.key < $1.key }.map { MLflowAPI.Param(key: $0.key, value: $0.value.description) }
    }

    var metrics: [MLflowAPI.Metric] {
        let time = Int64(record.createdAt.timeIntervalSince1970 * 1000)
        return record.metricValues.sorted { $0.key < $1.key }.map { MLflowAPI.Metric(key: $0.key, value: $0.value, timestamp: time, step: 0) }
    }

    /// The artifact's files, each with its path under the run's `model/`
    /// artifact directory: the file itself, or every file of a directory.
    func artifactFiles() throws -> [(file: String, path: String)] {
        let root = record.artifactPath
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) else {
            throw DriverError("\(record.model)@v\(record.number)'s artifact \(root) is missing")
        }
        guard isDirectory.boolValue else { return [(root, "model/" + (root as NSString).lastPathComponent)] }
        guard let walker = FileManager.default.enumerator(atPath: root) else { throw DriverError("cannot list artifact directory \(root)") }
        var files: [(String, String)] = []
        while let relative = walker.nextObject() as? String {
            let full = (root as NSString).appendingPathComponent(relative)
            var nested: ObjCBool = false
            if FileManager.default.fileExists(atPath: full, isDirectory: &nested), !nested.boolValue {
                files.append((full, "model/" + relative))
            }
        }
        return files.sorted { $0.1 < $1.1 }
    }

    /// Whether an MLflow version is this one: both the number and the
    /// lineage tags must agree.
    func isPublished(as version: MLflowAPI.ModelVersion) -> Bool {
        version.tag(Self.versionTag) == "\(record.number)" && version.tag(Self.lineageTag) == record.digest
    }
}
