import ArgumentParser
import Foundation
import Reconciler

struct Reproduce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reproduce",
        abstract: "Rebuild a model version from its lineage and compare.",
        discussion: """
            Checks out the version's commit, verifies that every dataset still
            has the recorded fingerprint; a local dataset that changed is restored
            from the snapshot kept when the version was trained (and said so),
            one without a snapshot is named with what changed; then it trains
            again in a scratch directory under the state directory, and
            compares the artifact digest and metrics. Nothing is registered or
            served. Exit codes: 0 reproduced exactly, 1 it differs or cannot run.

            Examples:
              gantry reproduce churn@7 --repo . --path examples/quickstart
              gantry reproduce churn@7 -o json
            """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var format: FormatOptions
    @OptionGroup var snapshots: SnapshotOptions
    @Argument(help: "MODEL@VERSION, such as churn@7.") var reference: VersionReference

    func run() async throws {
        guard let store = try state.existingStore() else {
            printError("error: no state in \(state.directory)")
            throw ExitCode(1)
        }
        let reconciler = Reconciler(store: store, workspace: state.workspace, snapshotRemote: try snapshots.snapshotRemote())
        let report: Reproduction
        do {
            report = try await reconciler.reproduce(model: reference.model, number: reference.number, source: try source.source(state: state))
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        if format.output.isData {
            try printData(format.output, report)
        } else {
            print("\(report.model)@v\(report.version) from commit \(report.commit.prefix(12))")
            for p in report.dataProblems { print("  data: \(p)") }
            for r in report.restored { print("  data: \(r)") }
            if report.dataProblems.isEmpty {
                if report.restored.isEmpty { print("  data: every dataset has its recorded fingerprint") }
                print(
                    "  artifact: \(report.artifactMatches ? "identical" : "differs") (recorded \(report.recordedArtifact), reproduced \(report.reproducedArtifact ?? "none"))"
                )
                for m in report.metrics {
                    let f = { (v: Double?) in v.map { String(format: "%g", $0) } ?? "missing" }
                    print("  metric \(m.name): \(m.matches ? "identical" : "differs") (recorded \(f(m.recorded)), reproduced \(f(m.reproduced)))")
                }
                if report.runtimeChanges.isEmpty {
                    print("  runtime: as recorded (or not captured then)")
                } else {
                    print("  runtime differs: \(report.runtimeChanges.joined(separator: "; "))")
                }
                if let run = report.runDirectory { print("  run: \(run)") }
            }
            print(report.matches ? "reproduced exactly" : "not reproduced")
        }
        if !report.matches { throw ExitCode(1) }
    }
}
