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

            Exit codes: 0 nothing to do, 2 changes pending, 1 invalid revision or
            error (like terraform plan -detailed-exitcode).

            Examples:
              gantry plan --repo . --path examples/quickstart
              gantry plan --repo git://git.internal/models.git --ref main -o markdown > plan.md
              gantry plan --repo . --base origin/main --head HEAD -o markdown > plan.md
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

    func run() async throws {
        if let base { return try await review(base: base) }
        if head != nil { throw ValidationError("--head needs --base") }
        let plan = try await Self.compute(source: source, state: state)
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
            review = try await Self.withReadOnlyStore(state) { store in
                try await Review.compute(
                    base: baseRevision, head: planned,
                    reconciler: Reconciler(store: store, workspace: state.workspace), shown: headRevision)
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

    /// A plan against the existing state, or an empty one in a scratch
    /// directory when there is no state yet: planning writes nothing.
    static func compute(source: SourceOptions, state: StateOptions) async throws -> Plan {
        let git = try source.source(state: state)
        let revision: Revision
        do { revision = try git.fetch() } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        return try await withReadOnlyStore(state) { store in
            try await Reconciler(store: store, workspace: state.workspace).plan(revision, readOnly: true).1
        }
    }

    /// The existing state store, or an empty scratch one that is removed
    /// afterwards, so planning never creates state.
    static func withReadOnlyStore<T>(_ state: StateOptions, _ body: (StateStore) async throws -> T) async throws -> T {
        if let existing = try state.existingStore() { return try await body(existing) }
        let scratch = NSTemporaryDirectory() + "gantry-plan-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        return try await body(try StateStore(directory: scratch))
    }
}
