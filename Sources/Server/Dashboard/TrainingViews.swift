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
    }

    var model: String
    var target: String
    var startedAt: Date
    /// The run directory, for a training on the local target.
    var run: String?
    var steps: [Step]
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
                run: local ? run : nil, steps: local ? steps(in: run!).map { TrainingView.Step(name: $0.name, tail: $0.tail) } : [])
        }
    }

    static func latestRun(_ model: String, workspace: Workspace) -> String? { workspace.latestRun(of: model) }

    /// Each step's log in `run`, by step name, with its last 64 KiB.
    static func steps(in run: String) -> [(name: String, tail: String)] {
        StepLogTail.stepLogs(inRun: run).map { path in
            let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            guard let handle = FileHandle(forReadingAtPath: path) else { return (name, "") }
            defer { try? handle.close() }
            let size = (try? handle.seekToEnd()) ?? 0
            try? handle.seek(toOffset: size > UInt64(tailBytes) ? size - UInt64(tailBytes) : 0)
            let data = (try? handle.readToEnd()) ?? Data()
            return (name, String(decoding: data, as: UTF8.self))
        }
    }
}
