import ArgumentParser
import Foundation
import Lineage
import Reconciler
import State
import Targets

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what serves where, the latest versions and the last reconcile.",
        discussion: """
            With --server, reads what a running controller records and observes
            (a viewer token in $GANTRY_TOKEN) instead of this machine's state.

            Examples:
              gantry status
              gantry status -o json --state-dir /var/lib/gantry
              GANTRY_TOKEN=… gantry status --server https://gantry.internal:8443
            """)

    @OptionGroup var state: StateOptions
    @OptionGroup var format: FormatOptions
    @OptionGroup var read: ReadOptions

    struct Report: Encodable {
        var deployments: [DeploymentRecord]
        var latestVersions: [VersionRecord]
        var lastReconcile: ReconcileRecord?
        var sources: [SourceRecord]
        /// Deployments a person rolled back, which automatic promotion
        /// leaves alone while Git pins the version they were rolled back to.
        var manualPins: [ManualPin]
    }

    @Flag(help: "Print the status again each time it changes, until interrupted.") var watch = false
    @Option(help: "With --watch: seconds between looks.") var interval: Double = 2

    func run() async throws {
        guard watch else { return print(try await render(), terminator: "") }
        guard interval > 0 else { throw ValidationError("--interval must be above 0") }
        var last = ""
        while true {
            let now = try await render()
            if now != last {
                // Each change as a document of its own.
                let separator = last.isEmpty ? "" : format.output == .yaml ? "---\n" : format.output == .json ? "" : "\n"
                Apply.say(separator + (format.output.isData ? "" : "--- \(Date().short)\n") + now.dropLast())
                last = now
            }
            try await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
        }
    }

    /// The status as text, JSON or YAML, ending in a newline.
    func render() async throws -> String {
        try await read.withStore(state) { store, observed in try render(store, observed: observed) }
    }

    /// What a controller saw of a record's servers.
    static func observedText(_ seen: ObservedDeployment?) -> String {
        guard let seen else { return "unseen" }
        if !seen.serving { return "down" }
        return seen.healthy == false ? "unhealthy" : "serving"
    }

    /// A process on this machine is checked here; one on a remote target
    /// is what the controller observes (`gantry diff`).
    static func localText(_ d: DeploymentRecord) -> String {
        if let local = LocalServing.of(d) { return local.serve.isRunning ? "running" : "stopped" }
        return d.detail.isEmpty ? "stopped" : "on \(d.target)"
    }

    /// `observed`: a controller's observations (with --server), shown
    /// instead of looking for processes on this machine.
    func render(_ store: StateStore?, observed: [Slot: ObservedDeployment]?) throws -> String {
        var out = ""
        func print(_ items: String..., terminator: String = "\n") { out += items.joined(separator: " ") + terminator }
        guard let store else {
            if format.output.isData {
                return try dataText(format.output, Report(deployments: [], latestVersions: [], lastReconcile: nil, sources: [], manualPins: []))
            }
            print("No state in \(state.directory) yet: run `gantry apply` first.")
            return out
        }
        var latest: [String: VersionRecord] = [:]
        for v in try store.allVersions() { latest[v.model] = v }
        let report = Report(
            deployments: try store.deployments(), latestVersions: latest.values.sorted { $0.model < $1.model },
            lastReconcile: try store.reconciles(limit: 1).first, sources: try store.sources(), manualPins: try store.manualPins())
        if format.output.isData { return try dataText(format.output, report) }
        print("DEPLOYMENT".padding(14), "TARGET".padding(10), "MODEL".padding(18), "ADDRESS".padding(22), "PROCESS".padding(10), "SINCE")
        for d in report.deployments {
            let alive = observed.map { Self.observedText($0[d.slot]) } ?? Self.localText(d)
            print(
                d.name.padding(14), d.target.padding(10), "\(d.model)@v\(d.version)".padding(18), d.address.padding(22), alive.padding(10),
                d.updatedAt.short)
        }
        if report.deployments.isEmpty { print("(none)") }
        for pin in report.manualPins where report.deployments.contains(where: { $0.name == pin.deployment && $0.version == pin.version }) {
            print("".padding(14), "\(pin.deployment): \(pin.text); automatic promotion leaves it alone until its pin is changed in Git")
        }
        print("\nMODEL".padding(15), "LATEST".padding(8), "GATES".padding(8), "METRICS")
        for v in report.latestVersions {
            print(v.model.padding(14), "v\(v.number)".padding(8), (v.gatesPassed ? "pass" : "fail").padding(8), metricsText(v))
            if !v.gatesPassed { print("".padding(14), "gates: \(v.gateReport); never promoted") }
            if !v.promotion.isEmpty { print("".padding(14), "promotion: \(v.promotion)") }
        }
        if let r = report.lastReconcile {
            print("\nLast reconcile #\(r.id ?? 0) at \(r.startedAt.short): \(r.result), commit \(r.commit.prefix(12)) by \(r.author)")
            if !r.error.isEmpty { print("  " + r.error.replacingOccurrences(of: "\n", with: "\n  ")) }
        }
        for s in report.sources where !s.lastError.isEmpty && s.lastSeenCommit != s.lastGoodCommit {
            print("\nSource \(s.source): commit \(s.lastSeenCommit.prefix(12)) is invalid; still running \(s.lastGoodCommit.prefix(12))")
        }
        return out
    }
}

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "List recent reconciles with their commit, author and result.",
        discussion: """
            With --server, reads a running controller's history (a viewer token
            in $GANTRY_TOKEN).

            Examples:
              gantry history
              gantry history --limit 5 -o json
            """)

    @OptionGroup var state: StateOptions
    @OptionGroup var format: FormatOptions
    @OptionGroup var read: ReadOptions
    @Option(help: "How many reconciles to show.") var limit: Int = 20
    @Flag(help: "Also show the audit log of actions.") var audit = false

    func run() async throws {
        if audit, read.server != nil {
            throw ValidationError("--audit reads this machine's state; a controller's audit log is GET /api/v1/audit, with an admin token")
        }
        try await read.withStore(state) { store, _ in try show(store) }
    }

    func show(_ store: StateStore?) throws {
        guard let store else { return print("No history yet.") }
        let reconciles = try store.reconciles(limit: limit)
        let entries = audit ? try store.auditLog(limit: limit * 5) : []
        if format.output.isData {
            struct Out: Encodable {
                var reconciles: [ReconcileRecord]
                var audit: [AuditRecord]
            }
            return try printData(format.output, Out(reconciles: reconciles, audit: entries))
        }
        print("#".padding(5), "STARTED".padding(20), "RESULT".padding(14), "ACTIONS".padding(8), "COMMIT".padding(13), "AUTHOR / SUBJECT")
        for r in reconciles {
            print(
                "\(r.id ?? 0)".padding(5), r.startedAt.short.padding(20), r.result.padding(14), "\(r.actions)".padding(8),
                String(r.commit.prefix(12)).padding(13), "\(r.author): \(r.subject)")
        }
        if audit {
            print("\nTIME".padding(21), "ACTOR".padding(8), "ACTION".padding(8), "OBJECT".padding(26), "RESULT")
            for e in entries {
                print(e.time.short.padding(20), e.actor.padding(8), e.action.padding(8), e.object.padding(26), e.result)
            }
        }
    }
}

struct Versions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "versions",
        abstract: "List a model's versions with their metrics and gates.",
        discussion: """
            Examples:
              gantry versions churn
              gantry versions churn -o json | jq '.[-1].metrics'
            """)

    @OptionGroup var state: StateOptions
    @OptionGroup var format: FormatOptions
    @OptionGroup var read: ReadOptions
    @Argument(help: "The model.") var model: String

    func run() async throws {
        let versions = try await read.withStore(state) { store, _ in try store?.versions(of: model) ?? [] }
        if format.output.isData { return try printData(format.output, versions) }
        guard !versions.isEmpty else {
            printError("no versions of \(model)")
            throw ExitCode(1)
        }
        print("VERSION".padding(8), "CREATED".padding(20), "COMMIT".padding(13), "GATES".padding(6), "METRICS")
        for v in versions {
            print(
                "v\(v.number)".padding(8), v.createdAt.short.padding(20), String(v.commit.prefix(12)).padding(13),
                (v.gatesPassed ? "pass" : "fail").padding(6), metricsText(v))
        }
    }
}

struct LineageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lineage",
        abstract: "Show what a model version was made from.",
        discussion: """
            Examples:
              gantry lineage churn@3
              gantry lineage churn@3 -o json
            """)

    @OptionGroup var state: StateOptions
    @OptionGroup var format: FormatOptions
    @OptionGroup var read: ReadOptions
    @Argument(help: "MODEL@VERSION, such as churn@3.") var reference: VersionReference

    func run() async throws {
        let (model, number) = (reference.model, reference.number)
        let all = try await read.withStore(state) { store, _ in try store?.versions(of: model) ?? [] }
        guard let version = all.first(where: { $0.number == number }), let lineage = Lineage.decode(version.lineage) else {
            printError("no version \(reference)")
            throw ExitCode(1)
        }
        let parent = all.last { $0.number < number }
        // The files that changed since the parent, when both sides have
        // snapshots on this machine.
        let dataChanges = parent.flatMap { Lineage.decode($0.lineage) }.flatMap {
            SnapshotDiff.sinceParent(lineage, $0, in: SnapshotStore(root: state.workspace.snapshots))
        }
        if format.output.isData {
            struct Out: Encodable {
                var model: String
                var version: Int
                var digest: String
                var lineage: Lineage
                var metrics: [String: Double]
                var artifact: String
                var artifactDigest: String
                var parent: Int?
                /// The files that differ from the parent's data (nil when
                /// a side has no snapshot here).
                var dataChanges: [SnapshotDiff.FileChange]?
            }
            return try printData(
                format.output,
                Out(
                    model: model, version: number, digest: version.digest, lineage: lineage,
                    metrics: version.metricValues, artifact: version.artifactPath,
                    artifactDigest: version.artifactDigest, parent: parent?.number, dataChanges: dataChanges))
        }
        print("\(model)@v\(number)  \(version.digest)")
        print("  commit      \(lineage.commit)")
        print("  pipeline    \(lineage.pipeline) (\(lineage.pipelineDigest.prefix(19)))")
        print("  code        \(lineage.codePath) tree \(lineage.codeTree)")
        for (name, fp) in lineage.datasets.sorted(by: { $0.key < $1.key }) { print("  dataset     \(name) \(fp)") }
        for (name, value) in lineage.params.sorted(by: { $0.key < $1.key }) { print("  param       \(name) = \(value)") }
        for (name, value) in lineage.runtime.sorted(by: { $0.key < $1.key }) { print("  runtime     \(name) = \(value)") }
        if let c = lineage.captured {
            if let python = c.interpreter {
                print(
                    "  ran on      \(python) \(c.interpreterVersion ?? "?")"
                        + (c.packagesDigest.map { ", \(c.packages ?? 0) packages \($0.prefix(19))" } ?? ""))
            }
            if let lock = c.lockfile { print("              lockfile \(lock) \(c.lockfileDigest?.prefix(19) ?? "missing")") }
            print(
                "              \(c.os ?? "unknown OS"), kernel \(c.kernel ?? "?"), \(c.cpu ?? "unknown CPU")"
                    + (c.gpus.map { ", " + $0.joined(separator: "; ") } ?? ""))
            print("              gantry \(c.gantry); environment \(c.environment.joined(separator: " "))")
        }
        print("  metrics     \(metricsText(version))")
        print("  gates       \(version.gatesPassed ? "pass" : "fail"): \(version.gateReport)")
        print("  artifact    \(version.artifactDigest)")
        print("              \(version.artifactPath)")
        if let parent, let previous = Lineage.decode(parent.lineage) {
            var changes = lineage.changes(since: previous, triggers: nil)
            if let now = lineage.captured, let then = previous.captured { changes += now.changes(since: then).map { "ran on: " + $0 } }
            print("  parent      v\(parent.number): " + (changes.isEmpty ? "same inputs" : changes.joined(separator: "; ")))
        }
        for change in dataChanges ?? [] { print("  data        \(change.summary)") }
    }
}

func metricsText(_ v: VersionRecord) -> String {
    v.metricValues.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%g", $0.value))" }.joined(separator: " ")
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}

extension Date {
    var short: String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: self)
    }
}

/// `churn@3` (or `churn@v3`) on the command line.
/// `--server` on a read command: the records a running controller keeps,
/// read once from `GET /api/v1/state` into a scratch store (removed
/// afterwards), instead of this machine's state directory.
struct ReadOptions: ParsableArguments {
    @Option(
        name: .customLong("server"),
        help: "Read what this running controller records and observes instead of local state; its token comes from $GANTRY_TOKEN.")
    var server: String?

    func withStore<T>(_ state: StateOptions, _ body: (StateStore?, [Slot: ObservedDeployment]?) async throws -> T) async throws -> T {
        guard let server else { return try await body(try state.existingStore(), nil) }
        let snapshot = try await PlanCommand.controllerState(server)
        return try await PlanCommand.withScratchStore { store in
            let recorded = try snapshot.restore(into: store)
            return try await body(store, recorded.observations)
        }
    }
}

struct VersionReference: ExpressibleByArgument, CustomStringConvertible {
    var model: String
    var number: Int

    init?(argument: String) {
        let parts = argument.split(separator: "@")
        guard parts.count == 2, let number = Int(parts[1].trimmingPrefix("v")), !parts[0].isEmpty else { return nil }
        self.model = String(parts[0])
        self.number = number
    }

    var description: String { "\(model)@\(number)" }
}
