import Foundation
import Source

/// Revisions written out as files, once per commit, for steps and serving
/// processes to run in. Written to a temporary directory and renamed, so a
/// half-written checkout is never used.
public struct Checkouts: Sendable {
    let workspace: Workspace

    public init(workspace: Workspace) { self.workspace = workspace }

    /// The project root inside the checkout of `revision`.
    public func project(_ revision: Revision) throws -> String {
        let directory = workspace.checkout(revision.commit.id.hex)
        if !FileManager.default.fileExists(atPath: directory) {
            // Unique per call: two deploys of one revision in one process
            // (the targets of a wave) must not write into each other's.
            let temporary = directory + ".partial-\(getpid())-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
            try revision.checkout(into: temporary)
            if rename(temporary, directory) != 0 {
                try? FileManager.default.removeItem(atPath: temporary)  // another one won the race
            }
        }
        return revision.root.isEmpty ? directory : (directory as NSString).appendingPathComponent(revision.root)
    }
}
