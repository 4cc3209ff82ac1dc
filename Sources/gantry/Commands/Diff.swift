import ArgumentParser
import Foundation
import HTTP
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
            With --server, shows what that running controller sees: Git at the
            commit it planned last against its own observations of the targets
            (a viewer token in $GANTRY_TOKEN); no repository is read.

            Exit codes: 0 in sync, 2 drifted, 1 error.

            Examples:
              gantry diff churn-prod --path examples/quickstart
              gantry diff churn-prod -o json
              GANTRY_TOKEN=… gantry diff churn-prod --server https://gantry.internal:8443
            """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var format: FormatOptions
    @OptionGroup var read: ReadOptions
    @Argument(help: "The Deployment.") var deployment: String

    func run() async throws {
        let (rows, commit) = if let server = read.server { try await Self.controllerDrift(deployment, server: server) } else { try await localDrift() }
        let width = max(19, (rows.map(\.field.count).max() ?? 0) + 1)
        if format.output.isData {
            try printData(format.output, rows)
        } else {
            print("FIELD".padding(width + 2), "DESIRED (\(commit))".padding(26), "OBSERVED")
            for r in rows { print((r.inSync ? "  " : "! ") + r.field.padding(width), r.desired.padding(26), r.observed) }
        }
        if rows.contains(where: { !$0.inSync }) { throw ExitCode(2) }
    }

    /// The drift a running controller computes (`GET
    /// /api/v1/deployments/{name}`), and the commit it planned last.
    static func controllerDrift(_ name: String, server: String) async throws -> ([DriftField], String) {
        struct Status: Decodable { var revision: Revision? }
        struct Revision: Decodable { var commit: String }
        struct View: Decodable {
            var pinnedVersion: Int?
            var drift: [DriftField]
        }
        let client = try ServerOptions.client(for: server)
        do {
            let response = try await client.send(
                "GET", "/api/v1/deployments/" + RESTClient.encode(name), headers: [("Accept", "application/json")], accept: [404])
            guard response.status != 404 else {
                printError("error: the controller at \(server) has no Deployment \(name)")
                throw ExitCode(1)
            }
            let view = try client.decode(View.self, from: response)
            guard view.pinnedVersion != nil else {
                printError("error: Git no longer declares Deployment \(name) at the controller at \(server); it is being removed")
                throw ExitCode(1)
            }
            let status: Status = try await client.get("/api/v1/status")
            return (view.drift, status.revision.map { String($0.commit.prefix(7)) } ?? "?")
        } catch let error as ExitCode {
            throw error
        } catch {
            printError("error: reading Deployment \(name) from the controller at \(server): \(error)")
            throw ExitCode(1)
        }
    }

    func localDrift() async throws -> ([DriftField], String) {
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
        return (rows, revision.commit.id.short)
    }
}
