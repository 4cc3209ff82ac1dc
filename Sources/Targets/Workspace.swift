import Foundation
import Lineage

/// The state directory's layout: one place that knows where things go.
///
///     .gantry/
///       state.db                  versions, deployments, reconciles, audit, intents
///       sources/                  bare caches of remote repositories
///       checkouts/<commit>/       a revision's files, for training and serving
///       runs/<model>-<digest>/    a training run: job, logs, step outputs, result
///       artifacts/<sha256>/       artifacts, content-addressed
///       stepcache/<key>/          step outputs by the digest of their inputs
///       deployments/<name>/       forwarder control and serving logs
public struct Workspace: Sendable {
    public let root: String
    /// The gantry executable, re-run for detached helpers (job runner,
    /// address forwarder); this process's own by default.
    public let executable: String

    public init(root: String, executable: String = Workspace.currentExecutable) {
        self.executable = executable
        self.root =
            (root as NSString).standardizingPath.hasPrefix("/")
            ? (root as NSString).standardizingPath
            : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(root)
    }

    /// Where local training runs keep their files and step logs.
    public var runs: String { path("runs") }
    /// Data snapshots by content (``SnapshotStore``).
    public var snapshots: String { path("snapshots") }

    func path(_ parts: String...) -> String {
        parts.reduce(root) { ($0 as NSString).appendingPathComponent($1) }
    }

    public var sources: String { path("sources") }
    public func checkout(_ commit: String) -> String { path("checkouts", commit) }
    public func run(model: String, digest: String) -> String {
        path("runs", "\(model)-\(digest.replacingOccurrences(of: "sha256:", with: "").prefix(16))")
    }

    /// The model's most recent run on this machine (`runs/<model>-<16
    /// hex>`, by modification time), one still running included.
    public func latestRun(of model: String) -> String? {
        let runs = self.runs
        let mine = ((try? FileManager.default.contentsOfDirectory(atPath: runs)) ?? []).filter {
            $0.hasPrefix(model + "-") && $0.count == model.count + 17
        }
        func modified(_ name: String) -> Date {
            (try? FileManager.default.attributesOfItem(atPath: runs + "/" + name)[.modificationDate] as? Date) ?? .distantPast
        }
        return mine.max { modified($0) < modified($1) }.map { runs + "/" + $0 }
    }
    public func artifact(_ digest: String) -> String { path("artifacts", digest) }
    /// Step outputs kept by the key of their inputs.
    public var stepCache: String { path("stepcache") }
    public func deployment(_ name: String) -> String { path("deployments", name) }

    public static var currentExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The environment a step or serving process starts with: enough to find
    /// interpreters, and nothing that would make runs depend on who started
    /// the controller.
    public static func baseEnvironment() -> [String: String] { RuntimeEnvironment.base() }
}
