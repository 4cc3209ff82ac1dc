import Foundation
import Lineage
import Manifests
import Processes

/// Runs a job's steps in order as child processes and writes `result.json`.
/// It runs as its own detached process (`gantry run-job`), so a training
/// outlives a controller restart and is adopted, not started again.
///
///     let result = await JobRunner.run(runDirectory: "/var/lib/gantry/runs/churn-1a2b")
public enum JobRunner {
    public static func run(runDirectory: String) async -> JobResult {
        let job: Job
        do {
            job = try JobFiles.load(Job.self, from: JobFiles.job(runDirectory))
        } catch {
            return finish(JobResult(succeeded: false, error: "\(error)", steps: []), runDirectory)
        }
        var results: [JobResult.StepResult] = []
        let cache = job.cacheDirectory.map { StepCache(directory: $0) }
        var outputDigests: [String: String] = [:]
        for step in job.steps {
            let started = ContinuousClock.now
            func record(_ status: String) {
                let d = ContinuousClock.now - started
                results.append(
                    .init(
                        name: step.name, status: status,
                        seconds: d.seconds, log: step.logPath))
            }
            let key = step.cacheKey.map { staticKey in
                Digest.sha256(([staticKey] + step.dependsOn.map { "\($0)=\(outputDigests[$0] ?? "")" }).joined(separator: "\n"))
            }
            if let key, let cache, let digest = cache.restore(key, into: step.outputDirectory) {
                outputDigests[step.name] = digest
                record("cached")
                continue
            }
            do {
                try FileManager.default.createDirectory(atPath: step.outputDirectory, withIntermediateDirectories: true)
                var environment = job.baseEnvironment
                for (name, value) in step.env { environment[name] = try resolve(value, name: name) }
                let spec = ProcessSpec(
                    argv: step.argv, environment: environment,
                    workingDirectory: step.workingDirectory, logPath: step.logPath)
                let outcome = try await Processes.run(spec, timeout: step.timeoutSeconds.map { .milliseconds(Int64($0 * 1000)) })
                if outcome.timedOut {
                    record("timed out")
                    return finish(
                        JobResult(
                            succeeded: false, error: "step \(step.name) timed out after \(TimeSpan(seconds: step.timeoutSeconds ?? 0)); log: \(step.logPath)",
                            steps: results), runDirectory)
                }
                guard outcome.status.succeeded else {
                    record("failed")
                    return finish(
                        JobResult(succeeded: false, error: "step \(step.name) \(outcome.status); log: \(step.logPath)\(tail(step.logPath))", steps: results),
                        runDirectory)
                }
                let missing = step.expectedOutputs.filter {
                    !FileManager.default.fileExists(atPath: (step.outputDirectory as NSString).appendingPathComponent($0))
                }
                guard missing.isEmpty else {
                    record("failed")
                    return finish(
                        JobResult(succeeded: false, error: "step \(step.name) did not write \(missing.joined(separator: ", ")) to its outputs", steps: results),
                        runDirectory)
                }
                let digest = try StepCache.digest(of: step.outputDirectory)
                outputDigests[step.name] = digest
                if let key, let cache { cache.store(key, outputs: step.outputDirectory, digest: digest) }
                record("succeeded")
            } catch {
                record("failed")
                return finish(JobResult(succeeded: false, error: "step \(step.name): \(error)", steps: results), runDirectory)
            }
        }
        return finish(JobResult(succeeded: true, error: nil, steps: results), runDirectory)
    }

    static func finish(_ result: JobResult, _ runDirectory: String) -> JobResult {
        try? JobFiles.write(result, to: JobFiles.result(runDirectory))
        return result
    }

    /// A secret is read when the step starts, from the runner's environment
    /// or a file, and goes only into the step's environment.
    static func resolve(_ value: EnvValue, name: String) throws -> String {
        switch value {
        case .literal(let s): return s
        case .secret(let ref):
            do { return try ref.read() } catch { throw DriverError("\(name): \(error)") }
        }
    }

    /// The last lines of a log, for an error message.
    public static func tail(_ path: String, lines: Int = 5) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        let text = String(decoding: data.suffix(2000), as: UTF8.self)
        let last = text.split(separator: "\n").suffix(lines).joined(separator: "\n    ")
        return last.isEmpty ? "" : "\n    \(last)"
    }
}
