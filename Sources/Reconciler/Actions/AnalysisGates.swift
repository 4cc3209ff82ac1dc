import Foundation
import Lineage
import Manifests
import Processes
import State
import Targets

/// The analysis gates a canary step and a wave share: the new version's own
/// Prometheus metrics, and an evaluation command that must exit 0.
enum AnalysisGates {
    /// Reads `record`'s own metrics and checks each gate; a metric it does
    /// not report fails its gate.
    static func check(_ metrics: ModelMetricsGate, _ record: DeploymentRecord, _ driver: any TrafficSplitting) async throws {
        let path = metrics.path ?? "/metrics"
        let values = try await driver.modelMetrics(record, path: path)
        for gate in metrics.gates.compactMap(MetricGate.init(parsing:)) {
            guard let value = values[gate.metric] else {
                throw DriverError("v\(record.version)'s \(path) reports no \(gate.metric) (gate \(gate))")
            }
            guard gate.passes(value) else {
                throw DriverError("v\(record.version)'s \(path): \(gate.metric) is \(value), gate \(gate)")
            }
        }
    }

    /// Runs the analysis command for `record` from the project's root at the
    /// revision; it must exit 0 within `limit`. `${address}`, `${version}`
    /// and `${model}` come from the record, the rest from `values`. Its
    /// output is kept next to the deployment's logs.
    static func evaluate(
        _ command: Command, on record: DeploymentRecord, values: [String: String], limit: Duration, _ r: Reconciler, _ desired: DesiredState
    ) async throws {
        let argv = command.argv.map { arg in
            Placeholder.expand(arg) { p in
                switch p.namespace {
                case "address": return record.address
                case "version": return String(record.version)
                case "model": return record.model
                default: return values[p.namespace]
                }
            }
        }
        let directory = r.workspace.deployment(record.name)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let name = ["analysis", "v\(record.version)", values["target"], values["percent"]].compactMap { $0 }.joined(separator: "-")
        let log = (directory as NSString).appendingPathComponent(name + ".log")
        try? FileManager.default.removeItem(atPath: log)
        let child = try ChildProcess.spawn(
            ProcessSpec(
                argv: argv, environment: Workspace.baseEnvironment(), workingDirectory: try Checkouts(workspace: r.workspace).project(desired.revision),
                logPath: log))
        let finished = await withTaskGroup(of: ExitStatus?.self) { group in
            group.addTask { await child.wait() }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let status = finished else {
            _ = await child.terminate(grace: .seconds(2))
            throw DriverError("analysis command \(argv.joined(separator: " ")) did not finish within \(TimeSpan(seconds: limit.seconds)); log \(log)")
        }
        guard status.succeeded else {
            throw DriverError("analysis command \(argv.joined(separator: " ")) \(status):\(JobRunner.tail(log, lines: 3))")
        }
    }
}
