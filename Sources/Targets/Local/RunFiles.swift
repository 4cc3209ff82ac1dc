import Foundation
import Glibc
import Lineage
import Manifests
import Processes
import Source

/// A training run's files on the machine it runs on: the job built from a
/// request with that machine's paths, and the outcome collected from the
/// run's outputs. The local driver, a node agent and the Ray driver (whose
/// runs write to shared storage) each use it.
///
///     let job = try RunFiles(workspace: workspace).makeJob(request, runDirectory: dir, project: checkout, cacheDirectory: nil)
public struct RunFiles: Sendable {
    let workspace: Workspace

    public init(workspace: Workspace) {
        self.workspace = workspace
    }

    /// A finished run's outcome: its artifact stored by digest in this
    /// workspace, its metrics read.
    func collect(_ result: JobResult, runDirectory: String, artifact: OutputRef, metrics ref: OutputRef?) throws -> TrainingOutcome {
        guard result.succeeded else { throw DriverError(result.error ?? "training failed") }
        let stored = try ArtifactStore(workspace: workspace).store(try insideOutputs(runDirectory, artifact, "artifact"))
        var metrics: [String: Double] = [:]
        if let m = ref {
            let path = try insideOutputs(runDirectory, m, "metrics")
            guard let data = FileManager.default.contents(atPath: path),
                let object = try? JSONDecoder().decode([String: MetricReading].self, from: data)
            else {
                throw DriverError("metrics file \(m.step)/\(m.path) is missing or not a JSON object")
            }
            metrics = object.compactMapValues(\.value)
        }
        return TrainingOutcome(
            artifactPath: stored.path, artifactDigest: stored.digest, metrics: metrics,
            steps: result.steps.map { "\($0.name) \($0.status)" })
    }

    /// The file `ref` names, once it is known to lie in its step's output
    /// directory: a step's symbolic link to a file elsewhere (the host's
    /// /etc/passwd) is not registered as a model or read as metrics.
    func insideOutputs(_ runDirectory: String, _ ref: OutputRef, _ what: String) throws -> String {
        let path = stepOutput(runDirectory, ref)
        let outputs = (runDirectory as NSString).appendingPathComponent("steps/\(ref.step)/outputs")
        guard let real = Self.resolved(path), let base = Self.resolved(outputs) else { return path }  // missing: reported by the reader
        guard real == base || real.hasPrefix(base + "/") else {
            throw DriverError("the \(what) \(ref.step)/\(ref.path) leads out of the step's outputs (to \(real)); it is not read")
        }
        return path
    }

    static func resolved(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    func stepOutput(_ runDirectory: String, _ ref: OutputRef) -> String {
        ((runDirectory as NSString).appendingPathComponent("steps/\(ref.step)/outputs") as NSString).appendingPathComponent(ref.path)
    }

    /// The job for `request` with the paths of the machine it runs on: the
    /// project checkout, the run directory and the step cache there.
    func makeJob(_ request: TrainingRequest, runDirectory: String, project: String, cacheDirectory: String?) throws -> Job {
        let spec = request.pipeline.spec
        guard let order = StepGraph(spec.steps).topologicalOrder() else { throw DriverError("pipeline steps form a cycle") }
        let steps = Dictionary(spec.steps.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        func outputs(_ step: String) -> String { (runDirectory as NSString).appendingPathComponent("steps/\(step)/outputs") }
        let codeDirectory = (project as NSString).appendingPathComponent(spec.codePath ?? ".")
        return Job(
            model: request.model.name, lineageDigest: request.lineage.digest, lineage: request.lineage.json,
            baseEnvironment: Workspace.baseEnvironment(), cacheDirectory: cacheDirectory,
            steps: try order.map { name in
                let step = steps[name]!
                let argv: [String]
                if let notebook = step.notebook {
                    argv = NotebookStep.argv(
                        notebook, python: NotebookStep.python(notebook), project: project, outputs: outputs(name),
                        params: request.lineage.params,
                        datasets: request.datasets.compactMapValues { datasetPath($0, project: project) })
                } else if let command = step.command {
                    argv = command.argv.map { arg in
                        Placeholder.expand(arg) { p in
                            switch (p.namespace, p.name) {
                            case ("params", let n?): return request.lineage.params[n]?.description
                            case ("datasets", let n?): return request.datasets[n].flatMap { datasetPath($0, project: project) }
                            case ("outputs", nil): return outputs(name)
                            case ("steps", let n?): return outputs(n)
                            default: return nil
                            }
                        }
                    }
                } else {
                    throw DriverError("step \(name) has neither a command nor a notebook")
                }
                return Job.Step(
                    name: name, argv: argv, env: step.env ?? [:],
                    workingDirectory: step.workingDir.map { (project as NSString).appendingPathComponent($0) } ?? codeDirectory,
                    timeoutSeconds: step.timeout?.seconds, outputDirectory: outputs(name),
                    logPath: (runDirectory as NSString).appendingPathComponent("steps/\(name).log"),
                    expectedOutputs: step.outputs ?? [], dependsOn: step.dependsOn ?? [],
                    cacheKey: try StepCache.staticKey(step: step, request: request))
            })
    }

    /// What a step receives for `${datasets.NAME}`: a local path, or the URL
    /// or `s3://bucket/key` URI of data the step reads itself.
    func datasetPath(_ dataset: Entry<DatasetSpec>, project: String) -> String? {
        let source = dataset.spec.source
        if let path = source.path {
            return path.hasPrefix("/") ? path : (project as NSString).appendingPathComponent(path)
        }
        if let s3 = source.s3 { return "s3://\(s3.bucket)/\(s3.key)" }
        return source.url
    }
}
