import Foundation
import Synchronization

/// What step logs gained since they were last read, by path: the offsets a
/// follower keeps, shared by `gantry apply` (every run) and `gantry logs`
/// (one run).
public final class StepLogTail: Sendable {
    private let offsets = Mutex<[String: UInt64]>([:])

    /// With `skipping`, those logs are read from where they end now.
    public init(skipping existing: [String] = []) {
        var start: [String: UInt64] = [:]
        for path in existing {
            start[path] = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0
        }
        offsets.withLock { $0 = start }
    }

    /// The new bytes of each of `paths`, in order; `fresh` the first time a
    /// log is read at all.
    public func read(_ paths: [String]) -> [(path: String, fresh: Bool, data: Data)] {
        paths.compactMap { path in
            guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
            defer { try? handle.close() }
            let known = offsets.withLock { $0[path] }
            try? handle.seek(toOffset: known ?? 0)
            let data = (try? handle.readToEnd()) ?? Data()
            offsets.withLock { $0[path] = (known ?? 0) + UInt64(data.count) }
            return (path, known == nil, data)
        }
    }

    /// `<run>/steps/<step>.log`, by step name.
    public static func stepLogs(inRun run: String) -> [String] {
        let steps = run + "/steps"
        let files = (try? FileManager.default.contentsOfDirectory(atPath: steps)) ?? []
        return files.filter { $0.hasSuffix(".log") }.sorted().map { steps + "/" + $0 }
    }
}

/// Follows the step logs of local training runs as they are written, so that
/// `gantry apply` shows a training's output while it runs instead of after.
/// Each new log is announced once with its path; then each complete line is
/// given prefixed with the model and the step (`churn train | epoch 3 …`).
/// Logs that existed when the follower started are read from where they
/// ended then.
///
///     let follower = RunLogFollower(runs: workspace.runs)
///     let task = Task { await follower.follow { for line in $0 { print(line) } } }
public final class RunLogFollower: Sendable {
    let root: String
    private let tail: StepLogTail
    /// A last line without its newline yet, by path.
    private let pending = Mutex<[String: String]>([:])

    public init(runs root: String) {
        self.root = root
        tail = StepLogTail(skipping: Self.stepLogs(root))
    }

    /// `runs/<model>-<16 hex>/steps/<step>.log`, for every run.
    static func stepLogs(_ root: String) -> [String] {
        let runs = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return runs.sorted().flatMap { StepLogTail.stepLogs(inRun: root + "/" + $0) }
    }

    /// `churn train` for `…/runs/churn-0123456789abcdef/steps/train.log`.
    static func label(_ path: String) -> String {
        let parts = path.split(separator: "/")
        guard parts.count >= 3 else { return path }
        let run = parts[parts.count - 3]
        let model = run.count > 17 && run[run.index(run.endIndex, offsetBy: -17)] == "-" ? String(run.dropLast(17)) : String(run)
        return "\(model) \(parts[parts.count - 1].dropLast(4))"
    }

    /// What was written since the last call, as lines to show. With
    /// `flush`, a last line without its newline is given too.
    public func poll(flush: Bool = false) -> [String] {
        var out: [String] = []
        for (path, fresh, data) in tail.read(Self.stepLogs(root)) {
            let label = Self.label(path)
            if fresh { out.append("\(label): log \(path)") }
            var lines = pending.withLock { ($0[path] ?? "") + String(decoding: data, as: UTF8.self) }
                .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            var rest = lines.removeLast()
            if flush, !rest.isEmpty {
                lines.append(rest)
                rest = ""
            }
            pending.withLock { [rest] in $0[path] = rest }
            out += lines.map { "\(label) | \($0)" }
        }
        return out
    }

    /// Gives new lines every `gap` until cancelled, then what is left.
    public func follow(every gap: Duration = .milliseconds(200), _ emit: @Sendable ([String]) -> Void) async {
        while !Task.isCancelled {
            let lines = poll()
            if !lines.isEmpty { emit(lines) }
            try? await Task.sleep(for: gap)
        }
        let rest = poll(flush: true)
        if !rest.isEmpty { emit(rest) }
    }
}
