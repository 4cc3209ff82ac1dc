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

    func run() async throws {
        guard let period = TimeSpan(parsing: interval) else {
            throw ValidationError("invalid --interval \(interval); write 30s, 5m, 1h")
        }
        let git = try source.source(state: state)
        let reconciler = Reconciler(store: try state.store(), workspace: state.workspace, log: { log($0) })
        let stop = StopSignal()
        log("controller: following \(git.name) every \(period), state in \(state.workspace.root)")
        var lastCommit = ""
        var loops = 0
        while !stop.requested {
            loops += 1
            do {
                let revision = try git.fetch()
                let (desired, plan) = try await reconciler.plan(revision)
                let changed = revision.commit.id.hex != lastCommit
                if changed {
                    log("revision \(revision.commit.id.short) by \(revision.commit.author): \(revision.commit.subject)")
                }
                if plan.hasChanges || (changed && !plan.isValid) {
                    if !plan.isValid {
                        log("revision \(revision.commit.id.short) is invalid; keeping the last good state:")
                        plan.diagnostics.forEach { log("  \($0)") }
                    }
                    let report = try await reconciler.apply(plan, desired: desired, actor: "controller")
                    log("reconcile #\(report.reconcileID ?? 0): \(report.result)")
                }
                plan.warnings.forEach { log("warning: \($0)") }
                lastCommit = revision.commit.id.hex
            } catch {
                log("error: \(error)")
            }
            if iterations > 0 && loops >= iterations { break }
            await stop.wait(upTo: period.duration)
        }
        log("controller: stopped")
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

func log(_ message: String) {
    let stamp = ISO8601DateFormatter().string(from: Date())
    FileHandle.standardOutput.write(Data("\(stamp) \(message)\n".utf8))
}
