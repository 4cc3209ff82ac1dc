import Foundation
import Glibc
import Manifests
import Planner
import Processes
import Source
import State
import Targets

/// Scenario 2: a reconcile when nothing changed, every model already at a
/// version matching its lineage.
enum NoOp {
    static let gantry = "Gantry: fetch + plan"
    static let cli = "git CLI: fetch + diff (over file://)"
    static let cliGit = "git CLI: fetch only over git:// (git daemon)"
    static let cliHTTP = "git CLI: fetch only over smart HTTP (git http-backend)"
    static let firstProbe = "Gantry: first plan, probing every health check"

    /// 10,000 models (the repository without Deployments), nothing new to
    /// fetch: the plan is empty.
    static func models(work: String, repository: String, rounds: Int, out: String) async throws {
        let remote = try Remote(work: work, name: "noop", source: repository)
        let controller = try Controller(url: remote.url, state: work + "/state-noop")
        note("scenario 2: registering a version for every model")
        let registered = try await controller.registerMissingVersions()
        var git = try GitCommandLine(directory: try remote.clone("cli-noop", from: remote.fileURL), strategy: .decodeAll)
        let overGit = try remote.clone("cli-noop-git")
        let overHTTP = try remote.clone("cli-noop-http", from: remote.httpURL)
        var fetchOnly = Series("Gantry: fetch (nothing new)")
        var planOnly = Series("Gantry: plan only")
        var measuring = false
        var lastPlan: Plan?
        let before = controller.source.decodeCount

        func contestant(_ name: String) async throws -> Double {
            if name == cliGit || name == cliHTTP {
                return try Measure.time { try Child.check(["git", "-C", name == cliGit ? overGit : overHTTP, "fetch", "-q", "origin"]) }
            }
            if name == cli {
                let t0 = Measure.now()
                let outcome = try git.poll()
                guard outcome.changed.isEmpty else { throw BenchFailure("the no-op saw changes: \(outcome.changed)") }
                return Measure.now() - t0
            }
            let t0 = Measure.now()
            let revision = try controller.source.fetch()
            let t1 = Measure.now()
            let (_, plan) = try await controller.reconciler.plan(revision)
            let t2 = Measure.now()
            guard plan.isValid, plan.actions.isEmpty else {
                throw BenchFailure("the no-op plan has \(plan.actions.count) actions: \(plan.actions.prefix(3).map(\.summary))")
            }
            if measuring {
                fetchOnly.samples.append(t1 - t0)
                planOnly.samples.append(t2 - t1)
            }
            lastPlan = plan
            return t2 - t0
        }

        _ = try await alternate(rounds: 3, [gantry, cli, cliGit, cliHTTP], { _ in }, contestant)
        measuring = true
        note("scenario 2: \(rounds) rounds")
        var result = ScenarioResult(id: "noop")
        result.series = try await alternate(rounds: rounds, [gantry, cli, cliGit, cliHTTP], { _ in }, contestant)
        result.series += [fetchOnly, planOnly]
        result.series += try await Stages.measure(controller, rounds: 5)
        result.facts = [
            "versions registered": "\(registered)",
            "files decoded while measuring": "\(controller.source.decodeCount - before)",
            "plan": "\(lastPlan!.actions.count) actions, \(lastPlan!.inSync.count) in sync",
            "objects": "\(controller.source.fetchLastObjectCount)",
        ]
        try result.write(to: out)
    }

    /// The full repository, every Deployment recorded as serving its pinned
    /// version behind its address. One real HTTP endpoint stands in for all
    /// 10,000 serving processes and forwarders: observing a Deployment probes
    /// its health over HTTP, which is the cost this measures.
    static func deployments(work: String, repository: String, rounds: Int, out: String) async throws {
        let remote = try Remote(work: work, name: "noop-full", source: repository)
        let state = work + "/state-noop-full"
        let controller = try Controller(url: remote.url, state: state, seed: work + "/state-change")
        note("scenario 2b: registering versions and in-sync deployments")
        try await controller.registerMissingVersions()
        let server = try HealthEndpoint(work: work)
        defer { server.stop() }
        let revision = try controller.source.fetch()
        let identity = ProcessIdentity(pid: server.pid, startTime: try startTime(of: server.pid))
        let serving = LocalServing(backendPort: server.port, serve: identity, forwarder: identity).json
        for (name, deployment) in revision.manifests.deployments {
            let spec = deployment.spec
            let control = state + "/deployments/\(name)/forwarder"
            try FileManager.default.createDirectory(atPath: control, withIntermediateDirectories: true)
            try "127.0.0.1:\(server.port)\n".write(toFile: control + "/backend", atomically: false, encoding: .utf8)
            try controller.store.save(
                DeploymentRecord(
                    name: name, model: spec.model, version: spec.version, target: "local", address: spec.address ?? "",
                    specDigest: Planner.specDigest(spec), commit: revision.commit.id.hex, updatedAt: Date(), detail: serving))
        }
        // The first plan probes every Deployment's health; the plans after
        // it, within the probe period (30 s by default), trust those answers
        // and still check every serving process and forwarder.
        var first: [Double] = []
        var samples: [Double] = []
        var lastPlan: Plan?
        for r in 0..<(rounds + 1) {
            let t0 = Measure.now()
            let (_, plan) = try await controller.fetchAndPlan()
            let t = Measure.now() - t0
            guard plan.isValid, plan.actions.isEmpty else {
                throw BenchFailure("the no-op plan has \(plan.actions.count) actions: \(plan.actions.prefix(3).map(\.summary))")
            }
            if r == 0 { first.append(t) } else { samples.append(t) }
            lastPlan = plan
        }
        var result = ScenarioResult(id: "noop-deployments")
        result.series = [Series(gantry, samples), Series(Self.firstProbe, first)]
        result.facts = [
            "plan": "\(lastPlan!.actions.count) actions, \(lastPlan!.inSync.count) in sync",
            "deployments observed per plan": "\(revision.manifests.deployments.count)",
        ]
        try result.write(to: out)
    }

    /// Field 22 of /proc/<pid>/stat, as Gantry's process identities record it.
    static func startTime(of pid: pid_t) throws -> UInt64 {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        guard fields.count > 19, let t = UInt64(fields[19]) else { throw BenchFailure("cannot read /proc/\(pid)/stat") }
        return t
    }
}

/// A static HTTP server on 127.0.0.1 that answers `GET /health` with 200.
struct HealthEndpoint {
    let pid: pid_t
    let port: Int

    init(work: String) throws {
        let root = work + "/health-root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try "ok\n".write(toFile: root + "/health", atomically: false, encoding: .utf8)
        port = try freePort()
        // A threaded server with a listen backlog for the controller's
        // concurrent probes (http.server's default backlog of 5 drops
        // connections that 10,000 separate serving processes would take).
        let server = """
            import functools, http.server, sys
            class Server(http.server.ThreadingHTTPServer):
                request_queue_size = 1024
            class Handler(http.server.SimpleHTTPRequestHandler):
                def log_message(self, *args): pass
            Server(("127.0.0.1", int(sys.argv[1])), functools.partial(Handler, directory=sys.argv[2])).serve_forever()
            """
        pid = try Child.start(["python3", "-c", server, "\(port)", root], log: work + "/health.log")
        let deadline = Measure.now() + 10
        while !Self.answers(port) {
            guard Measure.now() < deadline else { throw BenchFailure("the health endpoint did not start") }
            usleep(50_000)
        }
    }

    static func answers(_ port: Int) -> Bool {
        (try? Child.run(["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:\(port)/health', timeout=1)"]))?.succeeded == true
    }

    func stop() { Child.stop(pid) }
}
