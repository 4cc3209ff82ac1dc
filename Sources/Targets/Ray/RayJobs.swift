import Foundation
import HTTP
import Lineage
import Manifests
import State

/// A job as the Jobs API reports it (`GET /api/jobs/<id>`).
struct RayJobInfo: Decodable, Sendable {
    var status: String
    var message: String?
    /// Gantry's own keys: `gantry.model`, `gantry.lineage`, `gantry.storage`.
    var metadata: [String: String]?

    var finished: Bool { ["SUCCEEDED", "FAILED", "STOPPED"].contains(status) }
}

extension RayTarget {
    /// The submission id a lineage trains under: a retry, or a controller
    /// restarted mid-run, finds the job by it instead of starting another.
    ///
    ///     submissionID(model: "churn", digest: "sha256:1a2b…")   // "gantry-churn-1a2b3c4d5e6f7a8b"
    static func submissionID(model: String, digest: String, attempt: Int = 1) -> String {
        let base = "gantry-\(model)-\(digest.replacingOccurrences(of: "sha256:", with: "").prefix(16))"
        return attempt == 1 ? base : "\(base)-\(attempt)"
    }

    /// Where a submission's step leaves its outputs, in the shared storage.
    func outputs(_ storage: String, submission: String, step: String) -> String {
        ((storage as NSString).appendingPathComponent(submission) as NSString).appendingPathComponent("steps/\(step)/outputs")
    }

    public func train(_ request: TrainingRequest, launch: Launch) async throws -> TrainingOutcome {
        let storage = try storage()
        let model = request.model.name
        // A lineage whose job failed or was stopped is tried again under the
        // next attempt's id; a pending, running or finished one is adopted.
        var attempt = 1
        var submission = Self.submissionID(model: model, digest: request.lineage.digest)
        while let existing = try await job(submission), ["FAILED", "STOPPED"].contains(existing.status) {
            attempt += 1
            submission = Self.submissionID(model: model, digest: request.lineage.digest, attempt: attempt)
        }
        if try await job(submission) == nil {
            try await submit(request, submission: submission, storage: storage)
        }
        try launch.started(Digest.canonicalJSON(["target": name, "submission_id": submission]))
        let info = try await waitForJob(submission)
        guard info.status == "SUCCEEDED" else {
            // Ray's message carries up to 20,000 characters of log after its
            // first line; the tail below is enough.
            let message = info.message?.split(separator: "\n").first.map { ": \($0)" } ?? ""
            throw DriverError("ray job \(submission) \(info.status)\(message)\(await logTail(submission))")
        }
        // An adopted job wrote where its submitter's storage was; its
        // directory is laid out as a local run directory is.
        let written = info.metadata?["gantry.storage"] ?? storage
        let runDirectory = (written as NSString).appendingPathComponent(submission)
        let result = JobResult(
            succeeded: true, error: nil,
            steps: request.pipeline.spec.steps.map {
                JobResult.StepResult(name: $0.name, status: "succeeded", seconds: 0, log: "")
            })
        var outcome = try RunFiles(workspace: workspace).collect(
            result, runDirectory: runDirectory, artifact: request.pipeline.spec.artifact, metrics: request.pipeline.spec.metrics)
        outcome.runtime = RuntimeCapture.reported(runDirectory + "/runtime.json", workspace: workspace)
        if var runtime = outcome.runtime, let lockfile = request.model.spec.runtime?["lockfile"] {
            runtime.lockfile = lockfile
            if let bytes = try? request.revision.file(lockfile) { runtime.lockfileDigest = "sha256:" + Digest.sha256(Data(bytes)) }
            outcome.runtime = runtime
        }
        return outcome
    }

    /// The job with `submission`, or nil when the cluster has none.
    func job(_ submission: String) async throws -> RayJobInfo? {
        let response = try await dashboard.send("GET", "/api/jobs/\(RESTClient.encode(submission))", accept: [404])
        return response.status == 404 ? nil : try dashboard.decode(RayJobInfo.self, from: response)
    }

    func submit(_ request: TrainingRequest, submission: String, storage: String) async throws {
        let runner = try runnerJob(request, submission: submission, storage: storage)
        let project = try Checkouts(workspace: workspace).project(request.revision)
        var zip = ZipArchive()
        try zip.addDirectory(project)
        zip.add(RunnerJob.scriptName, contents: Array(RunnerJob.script.utf8))
        let package = try await upload(zip)
        struct RuntimeEnvironment: Encodable {
            var working_dir: String
            var env_vars: [String: String]
        }
        struct Submission: Encodable {
            var entrypoint: String
            var submission_id: String
            var runtime_env: RuntimeEnvironment
            var metadata: [String: String]
        }
        let body = Submission(
            entrypoint: "python3 \(RunnerJob.scriptName)", submission_id: submission,
            runtime_env: RuntimeEnvironment(working_dir: package, env_vars: ["GANTRY_RAY_JOB": Digest.canonicalJSON(runner)]),
            metadata: ["gantry.model": request.model.name, "gantry.lineage": request.lineage.digest, "gantry.storage": storage])
        do {
            try await dashboard.sendJSON("POST", "/api/jobs/", json: body)
        } catch {
            // A duplicate id answers 500 with a traceback: another controller,
            // or this POST before its answer was lost, got there first. The
            // job with our id is the one to adopt; with none, the error stands.
            guard (try? await job(submission)) != nil else { throw error }
        }
    }

    /// The pipeline's steps in dependency order, placeholders resolved.
    func runnerJob(_ request: TrainingRequest, submission: String, storage: String) throws -> RunnerJob {
        let spec = request.pipeline.spec
        guard let order = StepGraph(spec.steps).topologicalOrder() else { throw DriverError("pipeline steps form a cycle") }
        let steps = Dictionary(spec.steps.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        return RunnerJob(
            steps: try order.map { stepName in
                let step = steps[stepName]!
                guard let command = step.command else {
                    throw DriverError("step \(stepName) is a notebook; the ray target runs command steps only")
                }
                let argv = command.argv.map { arg in
                    RunnerJob.parts(arg) { p -> RunnerJob.Part? in
                        switch (p.namespace, p.name) {
                        case ("params", let n?): return request.lineage.params[n].map { RunnerJob.Part(text: $0.description) }
                        case ("datasets", let n?): return request.datasets[n].flatMap(Self.datasetPart)
                        case ("outputs", nil): return RunnerJob.Part(text: outputs(storage, submission: submission, step: stepName))
                        case ("steps", let n?): return RunnerJob.Part(text: outputs(storage, submission: submission, step: n))
                        default: return nil
                        }
                    }
                }
                return RunnerJob.Step(
                    name: stepName, argv: argv, workingDir: step.workingDir ?? spec.codePath ?? ".",
                    env: (step.env ?? [:]).mapValues { value in
                        switch value {
                        case .literal(let s): RunnerJob.Value(value: s)
                        case .secret(let ref): RunnerJob.Value(env: ref.env, file: ref.file)
                        }
                    },
                    outputs: outputs(storage, submission: submission, step: stepName),
                    expect: step.outputs ?? [], timeoutSeconds: step.timeout?.seconds)
            },
            capture: ((storage as NSString).appendingPathComponent(submission) as NSString).appendingPathComponent("runtime.json"))
    }

    /// What a step receives for `${datasets.NAME}`: a path inside the
    /// unpacked project, an absolute path, or the URL or `s3://` URI of
    /// data the step reads itself.
    static func datasetPart(_ dataset: Entry<DatasetSpec>) -> RunnerJob.Part? {
        let source = dataset.spec.source
        if let path = source.path {
            return path.hasPrefix("/") ? RunnerJob.Part(text: path) : RunnerJob.Part(project: path)
        }
        if let s3 = source.s3 { return RunnerJob.Part(text: "s3://\(s3.bucket)/\(s3.key)") }
        return source.url.map { RunnerJob.Part(text: $0) }
    }

    func waitForJob(_ submission: String) async throws -> RayJobInfo {
        while true {
            guard let info = try await job(submission) else {
                throw DriverError("ray job \(submission) disappeared from the cluster while Gantry waited for it")
            }
            if info.finished { return info }
            try await Task.sleep(for: pollInterval)
        }
    }

    /// The last lines of a job's log, for an error message; empty when the
    /// log cannot be read.
    func logTail(_ submission: String, lines: Int = 8) async -> String {
        struct Logs: Decodable { var logs: String }
        guard let logs: Logs = try? await dashboard.get("/api/jobs/\(RESTClient.encode(submission))/logs") else { return "" }
        let last = logs.logs.split(separator: "\n").suffix(lines).joined(separator: "\n    ")
        return last.isEmpty ? "" : "\n    \(last)"
    }
}
