import ArgumentParser
import Foundation
import Planner
import Reconciler
import Review
import Source
import State
import Targets

enum PlanFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, yaml, markdown
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

            With --base, plans a pull request: the field-level manifest changes
            between the two revisions, what merging the head would do, why models
            would retrain (with the commits that changed their code), pinned
            version changes with their metrics side by side, and the head's
            validation errors. Nothing from either revision runs.

            With --server, the plan is made against what that running controller
            records and last observed (its versions with their metrics, what
            serves where, holds and suspensions) instead of this machine's state:
            the plan a CI runner with no state makes is the one production would
            run. Its token (a viewer's) comes from $GANTRY_TOKEN. Without
            --server and without a state directory, the plan is made against Git
            alone, and says so.

            Exit codes: 0 nothing to do, 2 changes pending, 1 invalid revision or
            error (like terraform plan -detailed-exitcode).

            Examples:
              gantry plan --repo . --path examples/quickstart
              gantry plan --repo git://git.internal/models.git --ref main -o markdown > plan.md
              gantry plan --repo . --base origin/main --head HEAD -o markdown > plan.md
              GANTRY_TOKEN=… gantry plan --repo . --base origin/main --head HEAD --server https://gantry.internal:8443
            """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions

    @Option(name: .shortAndLong, help: "Output format: text, json or markdown.")
    var output: PlanFormat = .text

    @Option(help: "Plan a pull request: the revision it would merge into (a branch, tag or commit).")
    var base: String?

    @Option(help: "With --base: the revision to merge (default: --ref, or HEAD).")
    var head: String?

    @Flag(name: .customLong("head-only"), help: "With --base: plan the head's own tree instead of the result of merging it into the base.")
    var headOnly = false

    @Option(
        name: .customLong("server"),
        help: "Plan against what this running controller records and observes instead of local state; its token comes from $GANTRY_TOKEN.")
    var server: String?

    func run() async throws {
        if let base { return try await review(base: base) }
        if head != nil { throw ValidationError("--head needs --base") }
        let plan = try await Self.compute(source: source, state: state, server: server)
        switch output {
        case .text: print(plan.text, terminator: "")
        case .markdown: print(plan.markdown, terminator: "")
        case .json: try printJSON(plan)
        case .yaml: try printData(.yaml, plan)
        }
        if !plan.isValid { throw ExitCode(1) }
        if plan.hasChanges { throw ExitCode(2) }
    }

    func review(base: String) async throws {
        let git = try source.source(state: state)
        let review: Review
        do {
            try git.update()
            let baseRevision = try git.revision(at: base)
            let headName = head ?? source.ref ?? "HEAD"
            let headRevision = try git.revision(at: headName)
            // What merging would leave on the base, as the forge's merge ref
            // has it, unless asked for the head's own tree.
            var planned = headRevision
            if !headOnly {
                switch try git.merged(head: headName, into: base) {
                case .revision(let merged): planned = merged
                case .conflicts(let paths):
                    if output == .json || output == .yaml {
                        try printData(output == .json ? .json : .yaml, MergeConflict(base: base, head: headName, conflicts: paths))
                    } else {
                        printError(
                            "error: \(headName) does not merge cleanly into \(base): conflicts in \(paths.joined(separator: ", ")); resolve them (or plan --head-only)"
                        )
                    }
                    throw ExitCode(1)
                }
            }
            review = try await Self.withPlanner(state, server: server) { reconciler, against in
                try await Review.compute(base: baseRevision, head: planned, reconciler: reconciler, shown: headRevision, plannedAgainst: against)
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        switch output {
        case .text: print(review.text, terminator: "")
        case .markdown: print(review.markdown, terminator: "")
        case .json: try printJSON(review)
        case .yaml: try printData(.yaml, review)
        }
        switch review.result {
        case .invalid: throw ExitCode(1)
        case .changes: throw ExitCode(2)
        case .nothing: return
        }
    }

    struct MergeConflict: Encodable {
        var result = "conflict"
        var base: String
        var head: String
        var conflicts: [String]
    }

    /// A plan against the existing state (or a controller's, with
    /// `server`), or an empty one in a scratch directory when there is no
    /// state yet: planning writes nothing.
    static func compute(source: SourceOptions, state: StateOptions, server: String? = nil) async throws -> Plan {
        let git = try source.source(state: state)
        let revision: Revision
        do { revision = try git.fetch() } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        return try await withPlanner(state, server: server) { reconciler, _ in
            try await reconciler.plan(revision, readOnly: true).1
        }
    }

    /// A reconciler that plans without changing anything, and what it plans
    /// against: the controller at `server` (its records restored into a
    /// scratch store, its observations used instead of the drivers'), the
    /// existing state store, or an empty scratch one (Git alone).
    static func withPlanner<T>(_ state: StateOptions, server: String?, _ body: (Reconciler, String) async throws -> T) async throws -> T {
        if let server {
            let snapshot = try await controllerState(server)
            return try await withScratchStore { store in
                let recorded = try snapshot.restore(into: store)
                let when = snapshot.observedAt.formatted(.iso8601)
                return try await body(
                    Reconciler(store: store, workspace: state.workspace, recorded: recorded),
                    "the controller at \(server), as it observed its targets at \(when)")
            }
        }
        if let existing = try state.existingStore() {
            return try await body(Reconciler(store: existing, workspace: state.workspace), "the state in \(state.directory)")
        }
        return try await withScratchStore { store in
            try await body(
                Reconciler(store: store, workspace: state.workspace),
                "Git alone: no state here, so no model has a version and nothing is deployed (plan with --server to see what production runs)")
        }
    }

    /// What the controller records and last observed.
    static func controllerState(_ server: String) async throws -> StateSnapshot {
        let client = try ServerOptions.client(for: server)
        do {
            let response = try await client.send("GET", "/api/v1/state", headers: [("Accept", "application/json")])
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(StateSnapshot.self, from: Data(response.body))
        } catch {
            printError("error: reading the state of the controller at \(server): \(error)")
            throw ExitCode(1)
        }
    }

    /// An empty store in a scratch directory, removed afterwards, so
    /// planning never creates state.
    static func withScratchStore<T>(_ body: (StateStore) async throws -> T) async throws -> T {
        let scratch = NSTemporaryDirectory() + "gantry-plan-\(getpid())"
        try? FileManager.default.removeItem(atPath: scratch)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        return try await body(try StateStore(directory: scratch))
    }
}
