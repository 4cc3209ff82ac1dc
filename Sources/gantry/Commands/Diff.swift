import ArgumentParser
import Foundation
import Planner
import Reconciler
import Source
import State
import Targets

struct Diff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show a Deployment's live drift: what Git declares against what runs, field by field.",
        discussion: """
            Exit codes: 0 in sync, 2 drifted, 1 error.

            Examples:
              gantry diff churn-prod --path examples/quickstart
              gantry diff churn-prod -o json
            """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var format: FormatOptions
    @Argument(help: "The Deployment.") var deployment: String

    func run() async throws {
        let revision = try source.source(state: state).fetch()
        guard let desired = revision.manifests.deployments[deployment] else {
            printError("error: no Deployment \(deployment) in \(revision.commit.id.short)")
            throw ExitCode(1)
        }
        let store = try state.existingStore()
        // Each target as placed (its own address); a field is named with
        // its target when there are several.
        var rows: [DriftField] = []
        let targets = desired.spec.targets.map(\.target)
        for target in targets {
            let spec = desired.spec.placed(on: target)
            let record = try store?.deployment(deployment, target: target)
            var observed: ObservedDeployment?
            if let store, let record {
                do {
                    let driver = try Drivers.make(target: record.target, in: revision.manifests, workspace: state.workspace, versions: store)
                    observed = await driver.observe(record, spec: spec)
                } catch {
                    observed = ObservedDeployment(name: record.name, serving: false, forwarding: false, healthy: nil, detail: "\(error)")
                }
            }
            for var row in Drift.fields(spec: spec, record: record, observed: observed) {
                if targets.count > 1 { row.field = "\(target): \(row.field)" }
                rows.append(row)
            }
        }
        let width = max(19, (rows.map(\.field.count).max() ?? 0) + 1)
        if format.output.isData {
            try printData(format.output, rows)
        } else {
            print("FIELD".padding(width + 2), "DESIRED (\(revision.commit.id.short))".padding(26), "OBSERVED")
            for r in rows { print((r.inSync ? "  " : "! ") + r.field.padding(width), r.desired.padding(26), r.observed) }
        }
        if rows.contains(where: { !$0.inSync }) { throw ExitCode(2) }
    }
}
