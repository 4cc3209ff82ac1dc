import ArgumentParser
import Dispatch
import Foundation
import Manifests
import Planner
import Reconciler
import Source
import State

struct Controller: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow a repository and reconcile continuously.",
        discussion: """
        Every interval: fetch, plan, and apply when there is something to do
        (a new commit, a changed dataset, drift such as a serving process that
        died). An invalid commit is recorded and shown; the last good one keeps
        running. SIGTERM or SIGINT lets the current action finish, then exits.

        Examples:
          gantry controller --repo git://git.internal/models.git --branch main --interval 30s
          gantry controller --repo . --path examples/quickstart --interval 10s
        """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions

    @Option(help: "Time between reconciles, such as 30s or 5m.")
    var interval: String = "30s"

    @Option(help: "Stop after this many reconcile loops (0: run until stopped).")
    var iterations: Int = 0

    @Option(name: .customLong("log-format"), help: "Log lines as text or json.")
    var logFormat: OutputFormat = .text

    func run() async throws {
        guard let period = TimeSpan(parsing: interval) else {
            throw ValidationError("invalid --interval \(interval); write 30s, 5m, 1h")
        }
        let logger = Logger(json: logFormat == .json)
        let git = try source.source(state: state)
        let reconciler = Reconciler(store: try state.store(), workspace: state.workspace, writeBack: git,
                                    author: source.author, log: { logger.info($0) })
        let stop = StopSignal()
        logger.info("controller started", ["source": git.name, "interval": "\(period)", "state": state.workspace.root])
        var lastCommit = ""
        var loops = 0
        var failures = 0
        while !stop.requested {
            loops += 1
            let started = ContinuousClock.now
            do {
                let revision = try git.fetch()
                let (desired, plan) = try await reconciler.plan(revision)
                let commit = revision.commit
                if commit.id.hex != lastCommit {
                    logger.info("new revision", ["commit": commit.id.short, "author": commit.author, "subject": commit.subject])
                }
                if plan.hasChanges || (commit.id.hex != lastCommit && !plan.isValid) {
                    for d in plan.diagnostics { logger.error("invalid revision; the last good one keeps running", ["commit": commit.id.short, "diagnostic": "\(d)"]) }
                    let report = try await reconciler.apply(plan, desired: desired, actor: "controller")
                    logger.info("reconciled", ["reconcile": "\(report.reconcileID ?? 0)", "result": report.result,
                                               "actions": "\(plan.actions.count)", "failed": "\(report.failed.count)",
                                               "seconds": Self.seconds(since: started)])
                    failures = report.failed.isEmpty ? 0 : failures + 1
                } else {
                    failures = 0
                }
                for w in plan.warnings { logger.warning(w) }
                lastCommit = commit.id.hex
            } catch {
                failures += 1
                logger.error("reconcile failed", ["error": "\(error)", "attempt": "\(failures)"])
            }
            if iterations > 0 && loops >= iterations { break }
            await stop.wait(upTo: Self.delay(period: period.duration, failures: failures))
        }
        logger.info("controller stopped")
    }

    /// The wait before the next loop: the interval with ±10% jitter, so that
    /// many controllers do not poll one Git server in step; after failures,
    /// an exponential backoff from 2s, capped at 5 minutes.
    static func delay(period: Duration, failures: Int) -> Duration {
        if failures > 0 {
            let backoff = Duration.seconds(2) * (1 << min(failures - 1, 8))
            return min(backoff, .seconds(300))
        }
        return period * Double.random(in: 0.9...1.1)
    }

    static func seconds(since start: ContinuousClock.Instant) -> String {
        let d = ContinuousClock.now - start
        return String(format: "%.3f", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }
}

/// SIGTERM and SIGINT request a stop; the loop notices between actions.
final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    private var sources: [DispatchSourceSignal] = []

    init() {
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.request() }
            source.resume()
            sources.append(source)
        }
    }

    var requested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return flag
    }

    func request() {
        lock.lock()
        flag = true
        lock.unlock()
    }

    /// Sleeps for `duration`, waking early when a stop is requested.
    func wait(upTo duration: Duration) async {
        let deadline = ContinuousClock.now + duration
        while !requested && ContinuousClock.now < deadline {
            try? await Task.sleep(for: min(.milliseconds(100), deadline - ContinuousClock.now))
        }
    }
}

/// Structured log lines: `time level msg key=value` or one JSON object per line.
struct Logger: Sendable {
    var json: Bool

    func info(_ message: String, _ fields: [String: String] = [:]) { write("info", message, fields) }
    func warning(_ message: String, _ fields: [String: String] = [:]) { write("warning", message, fields) }
    func error(_ message: String, _ fields: [String: String] = [:]) { write("error", message, fields) }

    func write(_ level: String, _ message: String, _ fields: [String: String]) {
        let time = ISO8601DateFormatter().string(from: Date())
        let line: String
        if json {
            var object = fields
            object["time"] = time
            object["level"] = level
            object["msg"] = message
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            line = String(decoding: (try? encoder.encode(object)) ?? Data(), as: UTF8.self)
        } else {
            let rest = fields.sorted { $0.key < $1.key }.map { key, value in
                value.contains(" ") || value.contains("\"") ? "\(key)=\(String(reflecting: value))" : "\(key)=\(value)"
            }
            line = ([time, level, message] + rest).joined(separator: " ")
        }
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
