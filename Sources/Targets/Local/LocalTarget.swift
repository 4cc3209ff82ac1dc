import Foundation
import Glibc
import HTTP
import Lineage
import Manifests
import Processes
import Source
import StableAddress
import State
import Synchronization

/// The embedded default target: training runs and serving processes on this
/// machine.
///
/// Training is a detached `gantry run-job` process working through the
/// pipeline's steps; an intent record names it, so a controller restarted
/// mid-run adopts it instead of launching a second copy. Serving is a
/// detached process per version behind a forwarder that owns the
/// Deployment's stable address; a new version is started, health-checked,
/// switched to, and only then is the old one drained and stopped.
public struct LocalTarget: TargetDriver {
    let workspace: Workspace
    let http = HTTPClient.shared

    public init(workspace: Workspace) {
        self.workspace = workspace
    }

    // MARK: - Training

    struct TrainIntent: Codable {
        var runDirectory: String
        var runner: ProcessIdentity
    }

    public func train(_ request: TrainingRequest, launch: Launch) async throws -> TrainingOutcome {
        let runDirectory = workspace.run(model: request.model.name, digest: request.lineage.digest)
        if let adopted = launch.adopted, let detail = try? JSONDecoder().decode(TrainIntent.self, from: Data(adopted.utf8)) {
            if detail.runner.isRunning || FileManager.default.fileExists(atPath: JobFiles.result(detail.runDirectory)) {
                // Adopt the run an earlier controller started: still running,
                // or finished while nobody was waiting. One that died without
                // a result is launched again below.
                return try await finishTraining(request, runDirectory: detail.runDirectory, runner: detail.runner)
            }
            // The runner died (machine restart, OOM kill); make sure none of
            // its steps lives on before the run is launched again.
            Sessions.kill(leader: detail.runner.pid)
        }
        let job = try RunFiles(workspace: workspace).makeJob(
            request, runDirectory: runDirectory, project: try Checkouts(workspace: workspace).project(request.revision),
            cacheDirectory: workspace.stepCache)
        try? FileManager.default.removeItem(atPath: runDirectory)
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        try JobFiles.write(job, to: JobFiles.job(runDirectory))
        // Held at its start until the launch names it: a controller killed
        // in between leaves no runner that a retry would duplicate.
        let (runner, gate) = try spawnDetachedGated(
            ProcessSpec(
                argv: [workspace.executable, "run-job", runDirectory],
                environment: ProcessInfo.processInfo.environment,
                workingDirectory: runDirectory, logPath: JobFiles.runnerLog(runDirectory)),
            trampoline: workspace.executable)
        try launch.started(Digest.canonicalJSON(TrainIntent(runDirectory: runDirectory, runner: runner)))
        gate.open()
        return try await finishTraining(request, runDirectory: runDirectory, runner: runner)
    }

    func finishTraining(_ request: TrainingRequest, runDirectory: String, runner: ProcessIdentity) async throws -> TrainingOutcome {
        let resultPath = JobFiles.result(runDirectory)
        while runner.isRunning && !FileManager.default.fileExists(atPath: resultPath) {
            try await Task.sleep(for: .milliseconds(100))
        }
        guard let result = JobFiles.read(JobResult.self, from: resultPath) else {
            throw DriverError("training run \(runDirectory) ended without a result\(JobRunner.tail(JobFiles.runnerLog(runDirectory)))")
        }
        var outcome = try RunFiles(workspace: workspace).collect(
            result, runDirectory: runDirectory, artifact: request.pipeline.spec.artifact,
            metrics: request.pipeline.spec.metrics)
        outcome.runtime = await RuntimeCapture.capture(request, workspace: workspace)
        return outcome
    }

    // MARK: - Serving

    public func observe(_ record: DeploymentRecord, spec: DeploymentSpec?) async -> ObservedDeployment {
        let local = LocalServing.of(record)
        let replicas = local?.replicas ?? []
        let control = ForwarderControl(directory: controlDirectory(record.name))
        let forwarding = (local?.forwarder.isRunning ?? false) && Self.routesLead(control.routes(), to: replicas)
        let dead = replicas.filter { !$0.serve.isRunning }
        guard let local, dead.isEmpty else {
            let what =
                replicas.count > 1
                ? "\(dead.count) of \(replicas.count) serving processes for version \(record.version) are not running"
                : "serving process for version \(record.version) is not running"
            return ObservedDeployment(name: record.name, serving: false, forwarding: forwarding, healthy: nil, detail: what)
        }
        let path = spec?.healthCheck?.path ?? "/health"
        let period = spec?.healthCheck?.interval?.duration ?? HealthVerdicts.defaultPeriod
        var healthy = true
        var detail = ""
        for (i, replica) in local.replicas.enumerated() {
            let key = HealthVerdicts.Key(
                deployment: record.name, pid: replica.serve.pid, startTime: replica.serve.startTime, port: replica.port, path: path)
            var verdict: (Bool, String)
            if let recent = HealthVerdicts.shared.healthy(key, within: period) {
                verdict = (true, recent)
            } else {
                verdict = await probe(port: replica.port, path: path, timeout: .seconds(2))
                HealthVerdicts.shared.record(key, healthy: verdict.0, detail: verdict.1)
            }
            if replicas.count > 1 { verdict.1 = "replica \(i + 1) of \(replicas.count): \(verdict.1)" }
            if i == 0 || (healthy && !verdict.0) { detail = verdict.1 }
            healthy = healthy && verdict.0
        }
        return ObservedDeployment(
            name: record.name, serving: true, forwarding: forwarding, healthy: healthy,
            detail: forwarding ? detail : "stable address \(record.address) is not forwarded to version \(record.version)")
    }

    /// Whether `routes` send every request to `replicas`, spread evenly.
    static func routesLead(_ routes: [Route]?, to replicas: [LocalServing.Replica]) -> Bool {
        guard let taking = routes?.filter({ $0.weight > 0 }), !replicas.isEmpty else { return false }
        return Set(taking.map(\.endpoint)) == Set(replicas.map(\.endpoint)) && Set(taking.map(\.weight)).count == 1
    }

    /// Routes that spread requests evenly over `replicas`.
    static func routes(to replicas: [LocalServing.Replica]) -> [Route] {
        replicas.map { Route($0.endpoint, weight: 1) }
    }

    func probe(port: Int, path: String, timeout: Duration) async -> (Bool, String) {
        do {
            let r = try await http.send(HTTPRequest(url: "http://127.0.0.1:\(port)\(path)", timeout: timeout, connectTimeout: timeout))
            return ((200..<300).contains(r.status), "health check answered \(r.status)")
        } catch {
            return (false, "health check: \(error)")
        }
    }

    func controlDirectory(_ name: String) -> String {
        (workspace.deployment(name) as NSString).appendingPathComponent("forwarder")
    }

    public func deploy(_ request: DeployRequest, launch: Launch) async throws -> DeploymentRecord {
        try await serve(
            ServeRequest(
                name: request.deployment.name, spec: request.deployment.spec, version: request.version,
                project: try Checkouts(workspace: workspace).project(request.revision), commit: request.revision.commit.id.hex,
                current: request.current, specDigest: request.specDigest, registry: request.registry), launch: launch)
    }

    struct DeployIntent: Codable {
        var serve: ProcessIdentity
        /// Replicas after the first.
        var more: [LocalServing.Replica]?
        /// A canary's: the servers it replaces, stopped only after its
        /// record is kept. A controller killed in between leaves them to
        /// recovery.
        var replacing: [LocalServing.Replica]?
    }

    /// A training whose runner still runs stays open (the next plan of its
    /// lineage adopts it); a deploy's new serving process that no record
    /// names is stopped.
    public func recover(_ launch: OpenLaunch) async -> Recovery {
        let detail = Data(launch.detail.utf8)
        switch launch.kind {
        case .train:
            if let intent = try? JSONDecoder().decode(TrainIntent.self, from: detail), intent.runner.isRunning { return .stillRunning }
            return .cleanedUp("closed an interrupted training of \(launch.object)")
        case .deploy:
            if let intent = try? JSONDecoder().decode(DeployIntent.self, from: detail) {
                let current = launch.current.flatMap(LocalServing.of)
                if current?.serve != intent.serve {
                    // A canary killed mid-split: every request goes back to
                    // the version the record names before the canary stops.
                    if let current, let name = launch.current?.name {
                        let control = ForwarderControl(directory: controlDirectory(name))
                        if !Self.routesLead(control.routes(), to: current.replicas) {
                            try? control.setRoutes(Self.routes(to: current.replicas))
                        }
                    }
                    await Self.stop([LocalServing.Replica(port: 0, serve: intent.serve)] + (intent.more ?? []))
                } else if let replaced = intent.replacing {
                    // Kept, but killed before the servers it replaced stopped.
                    await Self.stop(replaced.filter { old in !(current?.replicas.contains { $0.serve == old.serve } ?? false) })
                }
            }
            return .cleanedUp("cleaned up an interrupted \(launch.object) rollout")
        }
    }

    /// A deploy with everything resolved to this machine: the project's
    /// files and the version's artifact are here (a node agent receives
    /// both from the controller).
    struct ServeRequest {
        var name: String
        var spec: DeploymentSpec
        /// `artifactPath` is a path on this machine.
        var version: VersionRecord
        var project: String
        var commit: String
        var current: DeploymentRecord?
        var specDigest: String
        var registry: RegistryModel?
    }

    /// Starts the version, waits until it is healthy, switches the stable
    /// address to it, then drains and stops the old one.
    func serve(_ request: ServeRequest, launch: Launch) async throws -> DeploymentRecord {
        let spec = request.spec
        let name = request.name
        let directory = workspace.deployment(name)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let address = spec.address.flatMap(Endpoint.init(parsing:))
        guard let address else { throw DriverError("deployment \(name) needs spec.address on the local target") }

        let forwarder = try await ensureForwarder(name: name, address: address, current: request.current)
        do {
            return try await serve(request, through: forwarder, at: address, directory: directory, launch: launch)
        } catch {
            // On a first deploy the forwarder is named by no record: left
            // running, it would hold the address where neither status nor
            // destroy sees it. (A later deploy keeps it: it still forwards to
            // the version that serves.)
            if request.current == nil { _ = await Processes.stop(forwarder, grace: .seconds(2)) }
            throw error
        }
    }

    /// The rest of a deploy, once the stable address is forwarded.
    func serve(
        _ request: ServeRequest, through forwarder: ProcessIdentity, at address: Endpoint, directory: String,
        launch: Launch
    ) async throws -> DeploymentRecord {
        let replicas = try await startServers(request, directory: directory, launch: launch)
        do {
            let control = ForwarderControl(directory: controlDirectory(request.name))
            let routes = Self.routes(to: replicas)
            try control.setRoutes(routes)
            try await control.waitUntilRouting(routes, timeout: .seconds(10))
        } catch {
            await Self.stop(replicas)
            throw error
        }
        // The new version answers on the stable address; let requests still
        // in flight on the old one finish, then stop it.
        if let old = request.current.flatMap(LocalServing.of), old.serve != replicas[0].serve {
            await drainAndStop(old, name: request.name)
        }
        return record(request, address: address, serving: LocalServing(replicas: replicas, forwarder: forwarder))
    }

    func record(_ request: ServeRequest, address: Endpoint, serving: LocalServing) -> DeploymentRecord {
        DeploymentRecord(
            name: request.name, model: request.version.model, version: request.version.number,
            target: request.spec.targets.first?.target ?? "local", address: address.description, specDigest: request.specDigest,
            commit: request.commit, updatedAt: Date(), detail: serving.json)
    }

    /// Lets requests in flight to `old` finish, then stops it.
    func drainAndStop(_ old: LocalServing, name: String) async {
        let control = ForwarderControl(directory: controlDirectory(name))
        for replica in old.replicas {
            _ = await control.drain(replica.endpoint, timeout: .seconds(10))
        }
        await Self.stop(old.replicas)
    }

    static func stop(_ replicas: [LocalServing.Replica]) async {
        await withTaskGroup(of: Void.self) { group in
            for replica in replicas {
                group.addTask { _ = await Processes.stop(replica.serve, grace: .seconds(10)) }
            }
        }
    }

    /// Starts the request's version, `replicas` servers of it each on a free
    /// port, and waits until every one is healthy; they take no requests
    /// yet. The launch names them before they run, so a killed deploy
    /// leaves no server that nothing records.
    func startServers(
        _ request: ServeRequest, directory: String, launch: Launch, replacing: [LocalServing.Replica]? = nil
    ) async throws -> [LocalServing.Replica] {
        let spec = request.spec
        let name = request.name
        let version = request.version
        guard let command = spec.serve.effectiveCommand else { throw DriverError("deployment \(name) has no spec.serve.command") }
        if spec.serve.registry != nil, request.registry == nil {
            throw DriverError("deployment \(name) serves from registry \(spec.serve.registry!), but the version was not resolved there")
        }
        var environment = Workspace.baseEnvironment()
        for (k, v) in request.registry?.environment ?? [:] { environment[k] = v }
        for (k, v) in spec.serve.env ?? [:] { environment[k] = try JobRunner.resolve(v, name: k) }
        let count = max(1, spec.targets.first?.replicas ?? 1)
        var started: [(LocalServing.Replica, Gate, String)] = []
        do {
            for _ in 0..<count {
                let port = Int(try freeLoopbackPort())
                let argv = command.argv.map { arg in
                    Placeholder.expand(arg) { p in
                        switch p.namespace {
                        case "registry": return p.name == "uri" ? request.registry?.uri : nil
                        case "artifact": return version.artifactPath
                        case "port": return String(port)
                        case "host": return "127.0.0.1"
                        case "version": return String(version.number)
                        case "model": return version.model
                        default: return nil
                        }
                    }
                }
                let logPath = (directory as NSString).appendingPathComponent("v\(version.number)-\(port).log")
                let (serve, gate) = try spawnDetachedGated(
                    ProcessSpec(
                        argv: argv, environment: environment,
                        workingDirectory: spec.serve.workingDir.map { (request.project as NSString).appendingPathComponent($0) } ?? request.project,
                        logPath: logPath),
                    trampoline: workspace.executable)
                started.append((LocalServing.Replica(port: port, serve: serve), gate, logPath))
            }
            let replicas = started.map(\.0)
            try launch.started(
                Digest.canonicalJSON(
                    DeployIntent(serve: replicas[0].serve, more: replicas.count > 1 ? Array(replicas.dropFirst()) : nil, replacing: replacing)))
            for (_, gate, _) in started { gate.open() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (replica, _, log) in started {
                    group.addTask { try await waitHealthy(replica.serve, port: replica.port, check: spec.healthCheck, log: log) }
                }
                try await group.waitForAll()
            }
            return replicas
        } catch {
            await Self.stop(started.map(\.0))
            throw error
        }
    }

    /// The forwarder running for `control` (its status names it, and its
    /// command line names the control directory, so a reused pid is not
    /// mistaken for it), with the address it holds.
    static func unrecordedForwarder(_ control: ForwarderControl) -> (ProcessIdentity, Endpoint)? {
        guard let status = control.status(), let identity = ProcessIdentity.of(pid: status.pid), identity.isRunning,
            let raw = FileManager.default.contents(atPath: "/proc/\(status.pid)/cmdline")
        else { return nil }
        let arguments = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard arguments.contains("forward"), arguments.contains(control.directory) else { return nil }
        return (identity, status.listen)
    }

    func ensureForwarder(name: String, address: Endpoint, current: DeploymentRecord?) async throws -> ProcessIdentity {
        let control = ForwarderControl(directory: controlDirectory(name))
        let recorded = current.flatMap(LocalServing.of)
        if let running = recorded?.forwarder, running.isRunning,
            control.status()?.listen == address
        {
            return running
        }
        if let stale = recorded?.forwarder, stale.isRunning {
            // The address changed. The old forwarder holds the control
            // directory, so it goes before the new one starts; a new address
            // that is taken would leave the version that serves unreachable.
            if let problem = listenProblem(address) {
                throw DriverError(
                    "cannot forward \(address): \(problem); the version that serves stays at \(control.status()?.listen.description ?? "its address")")
            }
            _ = await Processes.stop(stale, grace: .seconds(5))
        }
        // A deploy killed before it saved its record leaves a forwarder no
        // record names: adopted when it holds this address, else stopped.
        if let (orphan, listening) = Self.unrecordedForwarder(control), recorded?.forwarder != orphan {
            if listening == address { return orphan }
            _ = await Processes.stop(orphan, grace: .seconds(5))
        }
        try FileManager.default.createDirectory(atPath: control.directory, withIntermediateDirectories: true)
        if let recorded { try? control.setRoutes(Self.routes(to: recorded.replicas)) }
        let log = (workspace.deployment(name) as NSString).appendingPathComponent("forwarder.log")
        let forwarder = try spawnDetached(
            ProcessSpec(
                argv: [workspace.executable, "forward", "--listen", address.description, "--control", control.directory],
                environment: Workspace.baseEnvironment(), workingDirectory: control.directory, logPath: log))
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let status = control.status(), status.pid == forwarder.pid { return forwarder }
            if !forwarder.isRunning {
                throw DriverError("cannot forward \(address): \(JobRunner.tail(log, lines: 2).trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw DriverError("the forwarder for \(address) did not start; see \(log)")
    }

    /// How long a port answered by a process outside the serving process's
    /// session is watched before the answer is believed.
    static let foreignListenerGrace: Duration = .seconds(3)

    func waitHealthy(_ serve: ProcessIdentity, port: Int, check: HealthCheck?, log: String) async throws {
        let path = check?.path ?? "/health"
        let timeout = check?.timeout?.duration ?? .seconds(30)
        let interval = check?.interval?.duration ?? .milliseconds(200)
        let deadline = ContinuousClock.now + timeout
        var last = "no answer yet"
        var foreignSince: ContinuousClock.Instant?
        while ContinuousClock.now < deadline {
            guard serve.isRunning else {
                throw DriverError("the serving process exited before it was healthy; log \(log):\(JobRunner.tail(log))")
            }
            let (ok, detail) = await probe(port: port, path: path, timeout: .seconds(2))
            if ok {
                // The answer counts when it comes from the serving process
                // (or its session). Another process that took the port
                // first answers at once, while ours fails to bind and
                // exits; a helper outside the session that holds the port
                // for good (a container runtime's proxy) is accepted after
                // a grace period.
                guard ListeningSockets.sessionListens(serve.pid, port: port) == false else { return }
                let since = foreignSince ?? .now
                foreignSince = since
                if ContinuousClock.now - since >= Self.foreignListenerGrace { return }
                last = "port \(port) answers, but from a process outside the serving process's session"
            } else {
                last = detail
            }
            try await Task.sleep(for: interval)
        }
        throw DriverError("not healthy within \(TimeSpan(seconds: Double(timeout.components.seconds))): \(last); log \(log)")
    }

    public func stop(_ record: DeploymentRecord) async throws {
        if let local = LocalServing.of(record) {
            await Self.stop(local.replicas)
            _ = await Processes.stop(local.forwarder, grace: .seconds(5))
        }
        try? FileManager.default.removeItem(atPath: controlDirectory(record.name))
    }
}

/// Liveness of what a local deployment record names.
public enum LocalProcess {
    /// Whether the serving process `record` names is running; false for a
    /// record of another driver.
    public static func isServing(_ record: DeploymentRecord) -> Bool {
        LocalServing.of(record)?.isServing ?? false
    }
}

/// Processes by session: a detached runner leads its own session, and every
/// step it starts stays in it, so a session is the whole run.
enum Sessions {
    /// Kills every process whose session id is `leader`.
    static func kill(leader: Int32) {
        guard leader > 1, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
        for entry in entries {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // Fields after the command name: state ppid pgrp session ...
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 3, Int32(fields[3]) == leader { Glibc.kill(pid, SIGKILL) }
        }
    }
}

/// One value of a metrics file: a number counts, whatever it is (0 and 1
/// included); text, booleans, lists and objects are left out. Decoded by
/// JSON type rather than through NSNumber, which on Linux cannot tell 1
/// from true.
struct MetricReading: Decodable {
    var value: Double?

    init(from decoder: any Decoder) throws {
        value = try? decoder.singleValueContainer().decode(Double.self)
    }
}
