import Controller
import Foundation
import Glibc
import Lineage
import Manifests
import Planner
import Reconciler
import Source
import State
import Targets

/// A generated repository served by `git daemon` on 127.0.0.1, and over
/// smart HTTP (`git http-backend`, bench/git-http.py), with a clone that
/// commits and pushes, as a developer would.
final class Remote {
    let work: String
    let name: String
    let port: Int
    let daemon: pid_t
    let httpPort: Int
    let http: pid_t
    var url: String { "git://127.0.0.1:\(port)/\(name).git" }
    /// The same repository through the file system: git's fastest transport.
    var fileURL: String { "file://\(work)/\(name).git" }
    /// What a forge speaks.
    var httpURL: String { "http://127.0.0.1:\(httpPort)/\(name).git" }
    var pusher: String { work + "/\(name)-pusher" }

    /// Serves `work/<name>.git`, a bare copy of the generated repository at
    /// `source`, and clones it for pushing.
    init(work: String, name: String, source: String) throws {
        self.work = work
        self.name = name
        let bare = work + "/\(name).git"
        try? FileManager.default.removeItem(atPath: bare)
        try? FileManager.default.removeItem(atPath: work + "/\(name)-pusher")
        try Child.check(["git", "clone", "-q", "--bare", source, bare])
        port = try freePort()
        daemon = try Child.start(
            [
                "git", "daemon", "--export-all", "--reuseaddr", "--base-path=\(work)",
                "--listen=127.0.0.1", "--port=\(port)", "--enable=receive-pack",
            ],
            log: work + "/daemon-\(name).log")
        let deadline = Measure.now() + 10
        while (try? Child.run(["git", "ls-remote", "git://127.0.0.1:\(port)/\(name).git"]))?.succeeded != true {
            guard Measure.now() < deadline else {
                throw ChildFailure(argv: ["git", "daemon"], result: ChildResult(status: 1, stdout: "", stderr: "not ready in 10 s"))
            }
            usleep(20_000)
        }
        httpPort = try freePort()
        http = try Child.start(
            // bench/run runs from the repository's root.
            ["python3", FileManager.default.currentDirectoryPath + "/bench/git-http.py", "\(httpPort)", work],
            log: work + "/http-\(name).log")
        let httpDeadline = Measure.now() + 10
        while (try? Child.run(["git", "ls-remote", "http://127.0.0.1:\(httpPort)/\(name).git"]))?.succeeded != true {
            guard Measure.now() < httpDeadline else {
                throw ChildFailure(argv: ["bench/git-http.py"], result: ChildResult(status: 1, stdout: "", stderr: "not ready in 10 s"))
            }
            usleep(20_000)
        }
        try Child.check(["git", "clone", "-q", url, pusher])
    }

    deinit {
        Child.stop(daemon)
        Child.stop(http)
    }

    /// Commits what `edit` changed in the pusher clone and pushes it; returns
    /// how long the push took.
    @discardableResult
    func push(_ message: String, _ edit: (String) throws -> Void) throws -> Double {
        try edit(pusher)
        try Child.check(["git", "-C", pusher, "commit", "-q", "-am", message])
        return try Measure.time { try Child.check(["git", "-C", pusher, "push", "-q", "origin", "main"]) }
    }

    /// A clone for a git command-line contestant, fetching from `from`
    /// (git:// unless given).
    func clone(_ as: String, from: String? = nil) throws -> String {
        let dir = work + "/\(name)-\(`as`)"
        try? FileManager.default.removeItem(atPath: dir)
        try Child.check(["git", "clone", "-q", from ?? url, dir])
        return dir
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard ok else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Gantry as a long-running controller holds it: a Git source with its warm
/// caches and a reconciler over a state store.
final class Controller {
    let source: GitSource
    let store: StateStore
    let reconciler: Reconciler

    /// `seed`, a state directory of an earlier scenario on the same
    /// repository, saves registering 10,000 versions one transaction at a
    /// time again; `registerMissingVersions` tops up whatever it lacks.
    init(url: String, state: String, fresh: Bool = true, seed: String? = nil) throws {
        if fresh { try? FileManager.default.removeItem(atPath: state) }
        if let seed, FileManager.default.fileExists(atPath: seed + "/state.db"), !FileManager.default.fileExists(atPath: state + "/state.db") {
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            // The store logs ahead: what is not yet checkpointed is in the log.
            for file in ["state.db", "state.db-wal"] where FileManager.default.fileExists(atPath: seed + "/" + file) {
                try FileManager.default.copyItem(atPath: seed + "/" + file, toPath: state + "/" + file)
            }
        }
        source = try GitSource(location: url, ref: "main", path: "", cacheDirectory: state + "/sources")
        store = try StateStore(directory: state)
        reconciler = Reconciler(store: store, workspace: Workspace(root: state))
    }

    /// One controller loop's deciding half: fetch, desired state, observed
    /// state, plan.
    func fetchAndPlan() async throws -> (DesiredState, Plan) {
        let revision = try source.fetch(compacting: false)
        return try await reconciler.plan(revision)
    }

    /// What a controller loop does once its reconcile is done.
    func maintain() {
        if let problem = upkeep(after: source) { note("compacting the fetch cache failed: \(problem)") }
    }

    /// Registers a version for every model whose current lineage has none,
    /// as if each had been trained: the steady state of a controller that
    /// has caught up. Returns how many were registered.
    @discardableResult
    func registerMissingVersions() async throws -> Int {
        let (desired, plan) = try await fetchAndPlan()
        guard plan.isValid else {
            throw ChildFailure(
                argv: ["plan"], result: ChildResult(status: 1, stdout: "", stderr: plan.diagnostics.prefix(5).map(\.description).joined(separator: "\n")))
        }
        _ = desired
        return try register(plan.actions.filter { $0.kind == .train })
    }

    /// Records a version for each train action, as a finished training would.
    @discardableResult
    func register(_ trains: [Action]) throws -> Int {
        var registered = 0
        for action in trains {
            guard let lineage = action.lineage else { continue }
            let model = action.model
            _ = try store.registerVersion { number in
                VersionRecord(
                    model: model, number: number, digest: lineage.digest, lineage: lineage.json, metrics: "{}",
                    artifactPath: "/nonexistent/\(model)", artifactDigest: "sha256:" + String(repeating: "0", count: 64),
                    commit: lineage.commit, gatesPassed: true, gateReport: "no gates", createdAt: Date())
            }
            registered += 1
        }
        return registered
    }
}
