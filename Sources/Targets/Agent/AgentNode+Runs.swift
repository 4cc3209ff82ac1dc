import Foundation
import Lineage
import Processes

/// Training runs on the node: `runs/<id>/` holds the request, the job, the
/// detached runner's identity and log, the step outputs and the result.
extension AgentNode {
    public func runDirectory(_ id: String) -> String { workspace.path("runs", id) }
    func requestFile(_ id: String) -> String { (runDirectory(id) as NSString).appendingPathComponent("request.json") }
    func runnerFile(_ id: String) -> String { (runDirectory(id) as NSString).appendingPathComponent("runner.json") }
    func statusFile(_ id: String) -> String { (runDirectory(id) as NSString).appendingPathComponent("status.json") }

    /// Starts run `id`, or adopts it: a run of the same lineage that is
    /// still going or has finished is reported, not started again. One
    /// whose runner died without a result is started again.
    public func startRun(id: String, _ request: AgentAPI.RunRequest) async throws -> AgentAPI.RunStatus {
        guard AgentAPI.isSafeName(id) else { throw Problem(.badRequest, "invalid run id \(id)") }
        return try await runs.run(id) { [self] in
            let directory = runDirectory(id)
            if let existing = JobFiles.read(AgentAPI.RunRequest.self, from: requestFile(id)), existing.lineageDigest == request.lineageDigest,
                let status = try await runStatus(id), status.state != "failed"
            {
                return status  // adopted; a failed run is tried again
            }
            if let runner = JobFiles.read(ProcessIdentity.self, from: runnerFile(id)) { Sessions.kill(leader: runner.pid) }
            _ = try await projectDirectory(request.project)
            try await pullData(request.data ?? [:])
            var job = request.job
            // The node's own environment and cache, whatever the controller's are.
            job.baseEnvironment = Workspace.baseEnvironment()
            job.cacheDirectory = workspace.stepCache
            try? FileManager.default.removeItem(atPath: directory)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try JobFiles.write(job, to: JobFiles.job(directory))
            try JobFiles.write(request, to: requestFile(id))
            // Gated, as on the local target: an agent killed before it wrote
            // the runner's identity leaves no runner that a retry duplicates.
            let (runner, gate) = try spawnDetachedGated(
                ProcessSpec(
                    argv: [workspace.executable, "run-job", directory], environment: ProcessInfo.processInfo.environment,
                    workingDirectory: directory, logPath: JobFiles.runnerLog(directory)),
                trampoline: workspace.executable)
            try JobFiles.write(runner, to: runnerFile(id))
            gate.open()
            return AgentAPI.RunStatus(state: "running", error: nil, steps: [], artifact: nil, metrics: nil)
        }
    }

    /// The data snapshots a run reads, pulled from the node's snapshot
    /// remote when the node lacks them, each copied read-only where the
    /// job's paths expect it.
    func pullData(_ data: [String: String]) async throws {
        let snapshots = SnapshotStore(root: workspace.snapshots)
        for (fingerprint, name) in data.sorted(by: { $0.key < $1.key }) {
            if !snapshots.holds(fingerprint) {
                guard let remote = snapshotRemote else {
                    throw Problem(.failed, "the run reads the data snapshot \(fingerprint), and this node has no --snapshot-remote to pull it from")
                }
                do { _ = try await remote.pull(fingerprint, into: snapshots) } catch {
                    throw Problem(.failed, "pulling the data snapshot \(fingerprint) from \(remote.description): \(error)")
                }
            }
            do { _ = try snapshots.materialize(fingerprint, fileName: name.isEmpty ? "data" : name) } catch {
                throw Problem(.failed, "copying the data snapshot \(fingerprint): \(error)")
            }
        }
    }

    /// Run `id` now, or nil when the node has no such run. A finished
    /// run's artifact is stored by digest and offered as a blob.
    public func runStatus(_ id: String) async throws -> AgentAPI.RunStatus? {
        guard AgentAPI.isSafeName(id), let request = JobFiles.read(AgentAPI.RunRequest.self, from: requestFile(id)) else { return nil }
        if let done = JobFiles.read(AgentAPI.RunStatus.self, from: statusFile(id)) { return done }
        let directory = runDirectory(id)
        guard let result = JobFiles.read(JobResult.self, from: JobFiles.result(directory)) else {
            if let runner = JobFiles.read(ProcessIdentity.self, from: runnerFile(id)), runner.isRunning {
                return AgentAPI.RunStatus(state: "running", error: nil, steps: [], artifact: nil, metrics: nil)
            }
            return AgentAPI.RunStatus(
                state: "failed", error: "the run's runner exited without a result\(JobRunner.tail(JobFiles.runnerLog(directory)))",
                steps: [], artifact: nil, metrics: nil)
        }
        let steps = result.steps.map { "\($0.name) \($0.status)" }
        let status: AgentAPI.RunStatus
        do {
            let outcome = try RunFiles(workspace: workspace).collect(result, runDirectory: directory, artifact: request.artifact, metrics: request.metrics)
            status = AgentAPI.RunStatus(
                state: "succeeded", error: nil, steps: steps,
                artifact: try await offer(outcome.artifactPath, digest: outcome.artifactDigest, scratch: directory),
                metrics: outcome.metrics)
        } catch {
            status = AgentAPI.RunStatus(state: "failed", error: "\(error)", steps: steps, artifact: nil, metrics: nil)
        }
        try JobFiles.write(status, to: statusFile(id))
        return status
    }

    /// Makes a stored artifact fetchable as a blob: a file as itself, a
    /// directory as a tar.
    func offer(_ path: String, digest: String, scratch: String) async throws -> AgentAPI.Artifact {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let name = (path as NSString).lastPathComponent
        guard isDirectory.boolValue else {
            try publish(path, digest: digest)
            return AgentAPI.Artifact(digest: digest, blob: digest, name: name, directory: false)
        }
        let archive = (scratch as NSString).appendingPathComponent("artifact.tar")
        let blob = try await Tarball.pack(directory: path, into: archive)
        try publish(archive, digest: blob)
        return AgentAPI.Artifact(digest: digest, blob: blob, name: name, directory: true)
    }

    public func runLog(_ id: String) -> String? {
        guard AgentAPI.isSafeName(id), FileManager.default.fileExists(atPath: requestFile(id)) else { return nil }
        let directory = runDirectory(id)
        let steps = ((try? FileManager.default.contentsOfDirectory(atPath: directory + "/steps")) ?? [])
            .filter { $0.hasSuffix(".log") }.sorted().map { directory + "/steps/" + $0 }
        return logText([JobFiles.runnerLog(directory)] + steps)
    }
}
