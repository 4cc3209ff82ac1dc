import ArgumentParser
import Foundation
import Planner
import Reconciler
import Source
import State
import Targets

enum PlanFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, markdown
}

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what a reconcile would do, and why, without doing it.",
        discussion: """
        Reads the revision's manifests, fingerprints the data, compares with
        the versions and deployments Gantry knows and observes, and prints the
        actions (train, deploy, prune) with their reasons. Nothing is started,
        stopped or written.

        Exit codes: 0 nothing to do, 2 changes pending, 1 invalid revision or
        error (like terraform plan -detailed-exitcode).

        Examples:
          gantry plan --repo . --path examples/quickstart
          gantry plan --repo git://git.internal/models.git --ref main -o markdown > plan.md
        """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions

    @Option(name: .shortAndLong, help: "Output format: text, json or markdown.")
    var output: PlanFormat = .text

    func run() async throws {
        let plan = try await Self.compute(source: source, state: state)
        switch output {
        case .text: print(plan.text, terminator: "")
        case .markdown: print(plan.markdown, terminator: "")
        case .json: try printJSON(plan)
        }
        if !plan.isValid { throw ExitCode(1) }
        if plan.hasChanges { throw ExitCode(2) }
    }

    /// A plan against the existing state, or an empty one in a scratch
    /// directory when there is no state yet: planning writes nothing.
    static func compute(source: SourceOptions, state: StateOptions) async throws -> Plan {
        let git = try source.source(state: state)
        let revision: Revision
        do { revision = try git.fetch() } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        let store: StateStore
        if let existing = try state.existingStore() {
            store = existing
        } else {
            let scratch = NSTemporaryDirectory() + "gantry-plan-\(getpid())"
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            store = try StateStore(directory: scratch)
        }
        let reconciler = Reconciler(store: store, workspace: state.workspace)
        return try await reconciler.plan(revision, readOnly: true).1
    }
}
