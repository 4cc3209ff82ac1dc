import Foundation
import Lineage

/// Artifacts kept by content digest under a workspace: a file by its
/// SHA-256, a directory by its fingerprint. The local target stores what its
/// runs write; the agent driver stores what it fetches from a node; a node
/// stores what it is sent to serve.
///
///     let stored = try ArtifactStore(workspace: workspace).store("/runs/churn-1a2b/steps/train/outputs/model.json")
///     stored.digest  // "sha256:9f86…"
struct ArtifactStore {
    let workspace: Workspace

    /// The digest of a file or directory, as a version records it.
    static func digest(of source: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
            throw DriverError("the artifact \(source) does not exist")
        }
        return isDirectory.boolValue
            ? try Fingerprinter(store: nil).fingerprint(localPath: source, dataset: "artifact")
            : "sha256:" + (try Digest.sha256(file: source))
    }

    /// Where an artifact named `name` with `digest` lives.
    func path(digest: String, name: String) -> String {
        (workspace.artifact(digest.replacingOccurrences(of: "sha256:", with: "")) as NSString).appendingPathComponent(name)
    }

    /// Copies `source` under its digest; an artifact that exists already
    /// (the same bytes from another run) is not copied again.
    func store(_ source: String) throws -> (path: String, digest: String) {
        guard FileManager.default.fileExists(atPath: source) else {
            throw DriverError("the pipeline's artifact \(source) was not written")
        }
        let digest = try Self.digest(of: source)
        let destination = path(digest: digest, name: (source as NSString).lastPathComponent)
        if !FileManager.default.fileExists(atPath: destination) {
            try FileManager.default.createDirectory(
                atPath: (destination as NSString).deletingLastPathComponent,
                withIntermediateDirectories: true)
            let temporary = destination + ".partial-\(getpid())"
            try? FileManager.default.removeItem(atPath: temporary)
            try FileManager.default.copyItem(atPath: source, toPath: temporary)
            if rename(temporary, destination) != 0 { try? FileManager.default.removeItem(atPath: temporary) }
        }
        return (destination, digest)
    }
}
