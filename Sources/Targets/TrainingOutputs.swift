import Foundation
import Lineage
import Manifests

/// A finished run's outputs turned into a ``TrainingOutcome``: the artifact
/// stored by content digest in the workspace and the metrics file read.
/// Every driver whose steps leave their outputs in a directory the
/// controller can read shares this.
///
///     let outcome = try TrainingOutputs(workspace: workspace).outcome(pipeline.spec, steps: ["train succeeded"]) { ref in
///         "\(runDirectory)/steps/\(ref.step)/outputs/\(ref.path)"
///     }
struct TrainingOutputs {
    let workspace: Workspace

    /// Reads the pipeline's artifact and metrics through `path`, which maps
    /// a step output reference to a file.
    func outcome(_ pipeline: PipelineSpec, steps: [String], path: (OutputRef) -> String) throws -> TrainingOutcome {
        let artifact = try storeArtifact(path(pipeline.artifact))
        var metrics: [String: Double] = [:]
        if let m = pipeline.metrics {
            guard let data = FileManager.default.contents(atPath: path(m)),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw DriverError("metrics file \(m.step)/\(m.path) is missing or not a JSON object")
            }
            for (k, v) in object { if let n = v as? NSNumber, !(v is Bool) { metrics[k] = n.doubleValue } }
        }
        return TrainingOutcome(artifactPath: artifact.path, artifactDigest: artifact.digest, metrics: metrics, steps: steps)
    }

    /// Copies the artifact under its content digest; an artifact that exists
    /// already (the same bytes from another run) is not copied again.
    func storeArtifact(_ source: String) throws -> (path: String, digest: String) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
            throw DriverError("the pipeline's artifact \(source) was not written")
        }
        let digest: String
        if isDirectory.boolValue {
            digest = try Fingerprinter(store: nil).fingerprint(localPath: source, dataset: "artifact")
        } else {
            digest = "sha256:" + (try Digest.sha256(file: source))
        }
        let directory = workspace.artifact(digest.replacingOccurrences(of: "sha256:", with: ""))
        let destination = (directory as NSString).appendingPathComponent((source as NSString).lastPathComponent)
        try Self.copyOnce(source, to: destination)
        return (destination, digest)
    }

    /// Copies `source` to `destination` through a temporary name, unless
    /// `destination` exists (content-addressed paths never change).
    static func copyOnce(_ source: String, to destination: String) throws {
        guard !FileManager.default.fileExists(atPath: destination) else { return }
        try FileManager.default.createDirectory(atPath: (destination as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        let temporary = destination + ".partial-\(getpid())"
        try? FileManager.default.removeItem(atPath: temporary)
        try FileManager.default.copyItem(atPath: source, toPath: temporary)
        if rename(temporary, destination) != 0 {
            try? FileManager.default.removeItem(atPath: temporary)  // another writer won the race
        }
    }
}
