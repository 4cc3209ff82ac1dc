import Foundation
import Synchronization

/// Follows the step logs of local training runs as they are written, so that
/// `gantry apply` shows a training's output while it runs instead of after.
/// Each new log is announced once with its path; then each complete line is
/// given prefixed with the model and the step (`churn train | epoch 3 …`).
/// Logs that existed when the follower started are read from where they
/// ended then.
///
///     let follower = RunLogFollower(runs: workspace.path("runs"))
///     let task = Task { await follower.follow { for line in $0 { print(line) } } }
public final class RunLogFollower: Sendable {
    let root: String
    private struct Log {
        var offset: UInt64
        var pending = ""
    }
    private let logs = Mutex<[String: Log]>([:])

    public init(runs root: String) {
        self.root = root
        var start: [String: Log] = [:]
        for path in Self.stepLogs(root) {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0
            start[path] = Log(offset: size ?? 0)
        }
        logs.withLock { $0 = start }
    }

    /// `runs/<model>-<16 hex>/steps/<step>.log`, for every run.
    static func stepLogs(_ root: String) -> [String] {
        let runs = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return runs.sorted().flatMap { run -> [String] in
            let steps = root + "/" + run + "/steps"
            let files = (try? FileManager.default.contentsOfDirectory(atPath: steps)) ?? []
            return files.filter { $0.hasSuffix(".log") }.sorted().map { steps + "/" + $0 }
        }
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
        for path in Self.stepLogs(root) {
            var log = logs.withLock { $0[path] }
            if log == nil {
                out.append("\(Self.label(path)): log \(path)")
                log = Log(offset: 0)
            }
            guard var log, let handle = FileHandle(forReadingAtPath: path) else { continue }
            defer { try? handle.close() }
            try? handle.seek(toOffset: log.offset)
            let data = (try? handle.readToEnd()) ?? Data()
            log.offset += UInt64(data.count)
            log.pending += String(decoding: data, as: UTF8.self)
            var lines = log.pending.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            log.pending = lines.removeLast()
            if flush, !log.pending.isEmpty {
                lines.append(log.pending)
                log.pending = ""
            }
            let label = Self.label(path)
            out += lines.map { "\(label) | \($0)" }
            let kept = log
            logs.withLock { $0[path] = kept }
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
