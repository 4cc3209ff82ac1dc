import Foundation
import Git
import Manifests
import Synchronization

/// Writes a change back to the followed repository as a commit: onto the
/// tracked branch (a model's `auto` promotion) or onto a branch of its own
/// for review (`manual`). For a remote, the commit is pushed; when the push
/// is rejected because the branch moved, the change is made again on the new
/// tip and pushed again.
///
///     let result = try source.writeBack(message: "gantry: promote churn to v8", author: author,
///                                       destination: .branch("gantry/churn-v8")) { tip in edits(tip) }
public struct WriteBackResult: Sendable {
    public var commit: ObjectID
    public var branch: String
    public var attempts: Int
    /// Why the change went to a review branch instead of the tracked one.
    public var note: String?
}

extension GitSource {
    public enum Destination: Sendable, Equatable {
        /// The branch this source follows; `fallback` when that branch cannot
        /// be moved (the checked-out branch of a local work tree).
        case trackedBranch(fallback: String)
        /// A branch for review, replaced if it exists.
        case branch(String)
    }

    /// Commits the files `edits` returns for the tip (paths relative to the
    /// project root) with `message`. Returns nil when `edits` returns nothing
    /// (the change is already there).
    public func writeBack(
        message: String, author: Signature, destination: Destination,
        edits: (Revision) throws -> [String: [UInt8]]
    ) throws -> WriteBackResult? {
        try writeBack(author: author, destination: destination) { tip in
            let files = try edits(tip)
            return files.isEmpty ? nil : (message, files)
        }
    }

    /// As above, for a change whose message depends on the tip it is made
    /// on (a rollback names the version it rolls back from).
    public func writeBack(
        author: Signature, destination: Destination,
        change: (Revision) throws -> (message: String, files: [String: [UInt8]])?
    ) throws -> WriteBackResult? {
        var destination = destination
        var note: String?
        let tracked = ref ?? (isRemote ? "main" : "HEAD")
        if case .trackedBranch(let fallback) = destination, !isRemote, !repository.isBare {
            // Moving the checked-out branch of a work tree would leave its
            // files behind the commit; propose instead.
            note = "\(location) is a work tree, so the change went to branch \(fallback) for review"
            destination = .branch(fallback)
        }
        for attempt in 1...3 {
            try update()
            let tip = try revision(at: nil)
            guard let (message, files) = try change(tip), !files.isEmpty else { return nil }
            var repoFiles: [String: [UInt8]] = [:]
            for (path, bytes) in files { repoFiles[tip.repositoryPath(path)] = bytes }
            let commit = try repository.commit(replacing: repoFiles, parent: tip.commit.id, message: message, author: author)
            let target: String
            let force: Bool
            switch destination {
            case .trackedBranch: (target, force) = (tracked, false)
            case .branch(let name): (target, force) = (name, true)
            }
            if !isRemote {
                try repository.setReference("refs/heads/\(target)", to: commit)
                if target == tracked { trackedWrites.add(1, ordering: .releasing) }
                return WriteBackResult(commit: commit, branch: target, attempts: attempt, note: note)
            }
            try repository.setReference("refs/gantry/write-back", to: commit)
            let credentials = try token.map { GitCredentials(username: username, token: try $0.read()) }
            let outcome = try repository.push(
                to: location, refspec: "\(force ? "+" : "")refs/gantry/write-back:refs/heads/\(target)",
                credentials: credentials)
            if outcome == .pushed {
                if target == tracked { trackedWrites.add(1, ordering: .releasing) }
                try? update()  // so the next revision read sees our own commit
                return WriteBackResult(commit: commit, branch: target, attempts: attempt, note: note)
            }
        }
        throw Failure(message: "\(location): the push to \(tracked) was rejected three times; the branch keeps moving")
    }
}
