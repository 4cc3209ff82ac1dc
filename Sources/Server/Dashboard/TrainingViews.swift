import Foundation
import Planner
import State
import Targets

/// A training under way, as `GET /api/v1/trainings` and the dashboard show
/// it: its launch, and on this machine its run's step logs so far.
struct TrainingView: Codable, Sendable {
    struct Step: Codable, Sendable {
        var name: String
        /// The log's last 64 KiB.
        var tail: String
        /// The whole log's size in bytes, so that a client polling it
        /// prints only what is new.
        var size: Int64?
    }

    var model: String
    var target: String
    var startedAt: Date
    /// The run directory, for a training on the local target.
    var run: String?
    var steps: [Step]
    /// Whether the run goes on: its launch is open and it wrote no result.
    var running: Bool = true
}

enum TrainingViews {
    static let tailBytes = 64 << 10

    /// Every training whose launch is open, oldest first.
    static func inProgress(_ store: StateStore, workspace: Workspace) throws -> [TrainingView] {
        try store.openIntents().filter { $0.kind == .train }.sorted { $0.createdAt < $1.createdAt }.map { intent in
            let parts = intent.key.split(separator: ":", maxSplits: 2).map(String.init)  // train:<model>:<digest>
            let model = parts.count == 3 ? parts[1] : String(intent.object.split(separator: "/").last ?? "")
            let run = parts.count == 3 ? workspace.run(model: model, digest: parts[2]) : nil
            let local = run.map { FileManager.default.fileExists(atPath: $0) } ?? false
            return TrainingView(
                model: model, target: intent.target.isEmpty ? "local" : intent.target, startedAt: intent.createdAt,
                run: local ? run : nil, steps: local ? steps(in: run!).map { TrainingView.Step(name: $0.name, tail: $0.tail, size: $0.size) } : [])
        }
    }

    /// Each step's log in `run`, by step name, with its last 64 KiB.
    static func steps(in run: String) -> [(name: String, tail: String, size: Int64)] {
        StepLogTail.stepLogs(inRun: run).map { path in
            let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            guard let handle = FileHandle(forReadingAtPath: path) else { return (name, "", 0) }
            defer { try? handle.close() }
            let size = (try? handle.seekToEnd()) ?? 0
            try? handle.seek(toOffset: size > UInt64(tailBytes) ? size - UInt64(tailBytes) : 0)
            let data = (try? handle.readToEnd()) ?? Data()
            return (name, String(decoding: data, as: UTF8.self), Int64(size))
        }
    }

    /// A model's run on this machine: version `number`'s, or the latest
    /// (one still running included); nil when there is none.
    static func run(_ model: String, version number: Int?, store: StateStore, workspace: Workspace) throws -> TrainingView? {
        let directory: String?
        if let number {
            directory = try store.version(model, number).map { workspace.run(model: model, digest: $0.digest) }
        } else {
            directory = workspace.latestRun(of: model)
        }
        guard let directory, FileManager.default.fileExists(atPath: directory) else { return nil }
        let started = (try? FileManager.default.attributesOfItem(atPath: directory)[.creationDate] as? Date) ?? Date()
        // Running while its launch is open and it has written no result
        // (a runner that died without one is not running).
        let launched = try store.openIntents().contains { $0.kind == .train && $0.object == "Model/\(model)" }
        let running = launched && !FileManager.default.fileExists(atPath: directory + "/result.json")
        return TrainingView(
            model: model, target: "local", startedAt: started ?? Date(), run: directory,
            steps: steps(in: directory).map { TrainingView.Step(name: $0.name, tail: $0.tail, size: $0.size) }, running: running)
    }
}
