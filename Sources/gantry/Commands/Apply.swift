import ArgumentParser
import Foundation
import Manifests
import Planner
import Reconciler
import Source
import State
import Targets

struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Reconcile once: plan, then carry out exactly that plan.",
        discussion: """
            Trains models whose lineage has no version yet, deploys pinned
            versions, repairs drift, and stops what Git no longer declares. Every
            reconcile, action and new version is recorded in the state directory.
            An invalid revision applies nothing; what runs keeps running.

            Examples:
              gantry apply --repo . --path examples/quickstart
              gantry apply --repo git://git.internal/models.git --ref main --state-dir /var/lib/gantry
            """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var snapshots: SnapshotOptions

    func run() async throws {
        let git = try source.source(state: state)
        let revision: Revision
        do { revision = try git.fetch() } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        let reconciler = Reconciler(
            store: try state.store(), workspace: state.workspace, writeBack: git,
            author: source.author, snapshotRemote: try snapshots.snapshotRemote(), log: { Self.say($0) })
        let (desired, plan) = try await reconciler.plan(revision, readOnly: false)
        Self.say(plan.text)
        // Each training step's output as it is written, not at the end.
        let follower = RunLogFollower(runs: state.workspace.runs)
        let following = Task { await follower.follow { Self.say($0.joined(separator: "\n")) } }
        let report: Reconciler.Report
        do {
            report = try await reconciler.apply(plan, desired: desired, actor: "cli")
        } catch {
            following.cancel()
            await following.value
            throw error
        }
        following.cancel()
        await following.value
        switch report.result {
        case .invalid: Self.say("Nothing applied: the revision is invalid.")
        case .nothingToDo: Self.say("Nothing to do.")
        default:
            Self.say("Applied \(report.succeeded.count) of \(plan.actions.count) actions" + (report.failed.isEmpty ? "." : "; \(report.failed.count) failed:"))
            for f in report.failed { Self.say("  \(f.action.summary)\n    \(f.error)") }
            for s in report.skipped { Self.say("  skipped \(s.action.summary): \(s.reason)") }
        }
        if !report.ok { throw ExitCode(1) }
    }

    /// One line (or several) to standard output at once, unbuffered: on a
    /// pipe (CI) each line arrives when it happens, in order.
    static func say(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}

struct RunJob: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-job",
        abstract: "Run a training job's steps (started by apply, detached).",
        shouldDisplay: false)

    @Argument(help: "The run directory holding job.json.")
    var runDirectory: String

    func run() async throws {
        let result = await JobRunner.run(runDirectory: runDirectory)
        if !result.succeeded {
            printError(result.error ?? "failed")
            throw ExitCode(1)
        }
    }
}

struct Destroy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "destroy",
        abstract: "Stop everything this state directory serves (versions and history stay).",
        discussion: """
            Like terraform destroy: every Deployment's serving process and stable
            address are stopped and forgotten. A controller still following the
            repository would start them again; stop it first. Deployments on
            remote targets are reached through the Targets the repository
            (--repo, default .) declares.

            On a terminal it lists what it will stop and asks first; only "yes"
            goes on. --yes skips the question (scripts and CI, where standard
            input is not a terminal, are not asked).

            Examples:
              gantry destroy
              gantry destroy --yes --state-dir /var/lib/gantry
            """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions
    @Flag(help: "Do not ask on a terminal before stopping.") var yes = false

    func run() async throws {
        guard let store = try state.existingStore() else { return print("Nothing to destroy.") }
        let serving = try store.deployments()
        if serving.isEmpty { return print("Nothing to destroy.") }
        if !yes, isatty(STDIN_FILENO) == 1 {
            print("gantry destroy will stop:")
            for d in serving { print("  Deployment/\(d.name) on \(d.target) (\(d.model)@v\(d.version) at \(d.address))") }
            print("Only 'yes' goes on: ", terminator: "")
            fflush(nil)
            guard readLine()?.trimmingCharacters(in: .whitespaces) == "yes" else {
                print("Destroy cancelled; nothing was stopped.")
                throw ExitCode(1)
            }
        }
        let reconciler = Reconciler(store: store, workspace: state.workspace)
        let remote = try store.deployments().contains { $0.target != ManifestSet.implicitLocalTarget }
        let manifests = remote ? try source.source(state: state).fetch().manifests : ManifestSet()
        let stopped = try await reconciler.destroy(actor: "cli", manifests: manifests)
        for d in stopped { print("stopped Deployment/\(d.name) (\(d.model)@v\(d.version) at \(d.address))") }
        if stopped.isEmpty { print("Nothing to destroy.") }
    }
}
