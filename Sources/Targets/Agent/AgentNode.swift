import Foundation
import Lineage
import Processes
import State

/// What a node agent does, behind its HTTP API: it keeps blobs by digest,
/// runs training jobs with the local target's detached runner, and serves
/// deployments with the local target's rollout (forwarder on the stable
/// address, health checks, drain), all in its own workspace and state store.
///
///     let node = AgentNode(workspace: Workspace(root: "/var/lib/gantry-agent"), store: try StateStore(directory: "/var/lib/gantry-agent"))
///     let status = try await node.startRun(id: "churn-1a2b3c4d5e6f7a8b", request)
public final class AgentNode: Sendable {
    public let workspace: Workspace
    public let store: StateStore
    let local: LocalTarget
    let runs = KeyedLocks()
    let rollouts = KeyedLocks()

    /// Where the node pulls the data snapshots a run names.
    let snapshotRemote: SnapshotRemote?

    public init(workspace: Workspace, store: StateStore, snapshotRemote: SnapshotRemote? = nil) {
        self.workspace = workspace
        self.store = store
        self.snapshotRemote = snapshotRemote
        local = LocalTarget(workspace: workspace)
    }

    /// A request the node refuses, with the status the API answers.
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public enum Kind: Sendable { case badRequest, notFound, missingBlob, failed }
        public var kind: Kind
        public var description: String

        init(_ kind: Kind, _ description: String) {
            self.kind = kind
            self.description = description
        }
    }

    // MARK: - Blobs

    public func blobPath(_ digest: String) -> String {
        workspace.path("blobs", digest.replacingOccurrences(of: "sha256:", with: ""))
    }

    public func hasBlob(_ digest: String) -> Bool {
        AgentAPI.isBlobDigest(digest) && FileManager.default.fileExists(atPath: blobPath(digest))
    }

    /// A file to receive a blob into, before ``adoptBlob(_:from:)``.
    public func incomingBlobPath() throws -> String {
        let directory = workspace.path("blobs", "incoming")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return (directory as NSString).appendingPathComponent(UUID().uuidString)
    }

    /// Keeps the received file as blob `digest` if its bytes have that
    /// digest; otherwise deletes it and refuses.
    public func adoptBlob(_ digest: String, from received: String) throws {
        let actual = "sha256:" + (try Digest.sha256(file: received))
        guard actual == digest else {
            try? FileManager.default.removeItem(atPath: received)
            throw Problem(.badRequest, "the body's digest is \(actual), not \(digest)")
        }
        if rename(received, blobPath(digest)) != 0 {
            try? FileManager.default.removeItem(atPath: received)
            throw Problem(.failed, "cannot store blob \(digest): errno \(errno)")
        }
    }

    func requireBlob(_ digest: String, _ what: String) throws -> String {
        guard hasBlob(digest) else { throw Problem(.missingBlob, "\(what) blob \(digest) is not on this node; PUT /v1/blobs/\(digest) first") }
        return blobPath(digest)
    }

    /// Keeps `path` as a blob under its own digest (a hard link when it can).
    func publish(_ path: String, digest: String) throws {
        guard !hasBlob(digest) else { return }
        let temporary = try incomingBlobPath()
        if link(path, temporary) != 0 { try FileManager.default.copyItem(atPath: path, toPath: temporary) }
        try adoptBlob(digest, from: temporary)
    }

    /// The project files of `project` on this node, unpacked once per commit.
    func projectDirectory(_ project: AgentAPI.Project) async throws -> String {
        guard AgentAPI.isSafeName(project.commit) else { throw Problem(.badRequest, "invalid commit \(project.commit)") }
        let checkout = workspace.checkout(project.commit)
        try await Tarball.unpack(try requireBlob(project.blob, "project"), into: checkout)
        let root = project.root.split(separator: "/").filter { $0 != "." && $0 != "" }
        guard !root.contains("..") else { throw Problem(.badRequest, "invalid project root \(project.root)") }
        return root.isEmpty ? checkout : (checkout as NSString).appendingPathComponent(root.joined(separator: "/"))
    }

    /// Log text, the last `limit` bytes of each file, each under its name.
    func logText(_ paths: [String], limit: Int = 64 << 10) -> String {
        paths.compactMap { path -> String? in
            guard let data = FileManager.default.contents(atPath: path) else { return nil }
            return "==> \((path as NSString).lastPathComponent) <==\n" + String(decoding: data.suffix(limit), as: UTF8.self)
        }.joined(separator: "\n")
    }
}

/// Serializes work per key (one rollout per deployment at a time); work on
/// different keys runs concurrently. A request that goes away does not
/// cancel work under way.
actor KeyedLocks {
    var tails: [String: Task<Void, Never>] = [:]

    func run<T: Sendable>(_ key: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let previous = tails[key]
        let task = Task {
            _ = await previous?.value
            return try await body()
        }
        tails[key] = Task { _ = try? await task.value }
        return try await task.value
    }
}
