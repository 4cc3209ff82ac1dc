import ArgumentParser
import Foundation
import Manifests
import Planner
import State
import Targets

struct RolloutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout",
        abstract: "Show a Deployment's rollout across its targets.",
        subcommands: [RolloutStatus.self])
}

/// Where a Deployment's rollout stands: the version Git pins, the waves,
/// what each target serves and how it is (asked of each target's driver),
/// and a held version with its reason.
struct RolloutStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what each target of a Deployment serves, its health, the waves and any held version.",
        discussion: """
            Exit codes: 0 every target serves the pinned version, healthy;
            2 the rollout is under way, held or drifted; 1 error.

            Examples:
              gantry rollout status churn-prod
              gantry rollout status churn-prod --watch
              gantry rollout status churn-prod -o json
            """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var format: FormatOptions
    @Argument(help: "The Deployment.") var deployment: String
    @Flag(help: "Print the status again whenever it changes, until every target is done or the version is held.") var watch = false
    @Option(help: "With --watch: seconds between looks.") var interval: Double = 1

    struct Target: Encodable {
        var target: String
        var wave: Int
        /// nil when nothing serves there.
        var version: Int?
        var address: String?
        var serving: Bool
        var healthy: Bool?
        var detail: String
        var since: Date?
        var done: Bool
        /// How the target's address splits requests now (local targets).
        var traffic: [TrafficShare]?
    }

    struct Report: Encodable {
        var deployment: String
        var model: String
        var pinned: Int
        var commit: String
        var strategy: String
        var waves: [[String]]
        var autoRollback: Bool
        var targets: [Target]
        var held: HoldRecord?
        /// `done`, `rolling-out`, `held`.
        var state: String
    }

    func run() async throws {
        guard watch else {
            let report = try await look()
            try show(report)
            if report.state != "done" { throw ExitCode(2) }
            return
        }
        var last: String?
        while true {
            let report = try await look()
            let shown = format.output.isData ? "" : text(report)
            if shown != last || format.output.isData {
                try show(report)
                last = shown
            }
            if report.state == "done" { return }
            if report.state == "held" { throw ExitCode(2) }
            try await Task.sleep(for: .seconds(max(0.1, interval)))
        }
    }

    func show(_ report: Report) throws {
        if format.output.isData {
            try printData(format.output, report)
        } else {
            print(text(report))
        }
    }

    /// The rollout now, read from Git, the store and each target.
    func look() async throws -> Report {
        let revision = try source.source(state: state).fetch()
        guard let entry = revision.manifests.deployments[deployment] else {
            printError("error: no Deployment \(deployment) in \(revision.commit.id.short)")
            throw ExitCode(1)
        }
        let spec = entry.spec
        let store = try state.existingStore()
        let waves = spec.waves
        var targets: [Target] = []
        for (i, wave) in waves.enumerated() {
            for name in wave {
                let placed = spec.placed(on: name)
                let record = try store?.deployment(deployment, target: name)
                var seen: ObservedDeployment?
                var traffic: [TrafficShare]?
                if let store, let record {
                    do {
                        let driver = try Drivers.make(target: name, in: revision.manifests, workspace: state.workspace, versions: store)
                        seen = await driver.observe(record, spec: placed)
                        traffic = await (driver as? any TrafficSplitting)?.traffic(record)
                    } catch {
                        seen = ObservedDeployment(name: deployment, serving: false, forwarding: false, healthy: nil, detail: "\(error)")
                    }
                }
                targets.append(
                    Target(
                        target: name, wave: i + 1, version: record?.version, address: record?.address ?? placed.address,
                        serving: seen?.serving ?? false, healthy: seen?.healthy, detail: seen?.detail ?? "not deployed",
                        since: record?.updatedAt,
                        // Done: every field as `gantry diff` judges it.
                        done: Drift.fields(spec: placed, record: record, observed: seen).allSatisfy(\.inSync), traffic: traffic))
            }
        }
        // A hold counts while Git still asks for what failed.
        let hold = try store?.hold(deployment).flatMap { $0.holds(spec) ? $0 : nil }
        let report = Report(
            deployment: deployment, model: spec.model, pinned: spec.version, commit: revision.commit.id.hex,
            strategy: (spec.strategy?.type ?? .allAtOnce).rawValue, waves: waves, autoRollback: spec.autoRollback == true,
            targets: targets, held: hold,
            state: hold != nil ? "held" : targets.allSatisfy(\.done) ? "done" : "rolling-out")
        return report
    }

    /// `v1 90% (1203 requests, 0.1% failed, p99 <= 0.025 s)`; counts since
    /// the target's forwarder started.
    static func share(_ s: TrafficShare) -> String {
        let who = s.version.map { "v\($0)" } ?? "new version"
        var counts = "\(s.requests) requests"
        if s.requests > 0 {
            counts += String(format: ", %.1f%% failed", Double(s.failures) * 100 / Double(s.requests))
            if let p99 = s.p99 { counts += ", p99 <= \(p99) s" }
        }
        return "\(who) " + String(format: "%.0f%%", s.percent) + " (\(counts))"
    }

    func text(_ r: Report) -> String {
        let order = r.waves.count > 1 ? r.waves.map { "[\($0.joined(separator: ", "))]" }.joined(separator: " then ") : "all at once"
        var out = "Deployment \(r.deployment): Git pins \(r.model)@v\(r.pinned) (\(r.commit.prefix(12))); \(order)"
        out += r.autoRollback ? "; autoRollback\n" : "\n"
        let width = max(8, (r.targets.map(\.target.count).max() ?? 0) + 2)
        out += "\n" + "WAVE".padding(6) + "TARGET".padding(width) + "SERVES".padding(8) + "ADDRESS".padding(22) + "SINCE".padding(21) + "STATE\n"
        for t in r.targets {
            let state = t.version == nil ? "not deployed" : (t.done ? "done" : (t.serving ? (t.healthy == false ? "unhealthy" : "waiting") : "down"))
            out +=
                "\(t.wave)".padding(6) + t.target.padding(width) + (t.version.map { "v\($0)" } ?? "-").padding(8)
                + (t.address ?? "-").padding(22) + (t.since?.short ?? "-").padding(21) + state
                + (t.done || t.version == nil ? "" : " (\(t.detail))") + "\n"
            if let traffic = t.traffic, traffic.count > 1 || t.traffic?.first?.version != t.version {
                out += "".padding(6) + "traffic: " + traffic.map(Self.share).joined(separator: "; ") + "\n"
            }
        }
        if let h = r.held {
            out += "\nHeld since \(h.createdAt.short): \(r.model)@v\(h.version) failed its rollout (\(h.reason))"
            out += h.previous.map { "; its targets serve v\($0)" } ?? ""
            out += ". Not tried again until Git pins another version or changes the serve spec.\n"
        } else {
            let done = r.targets.filter(\.done).count
            out += "\n" + (r.state == "done" ? "Done: every target serves v\(r.pinned)." : "\(done) of \(r.targets.count) targets serve v\(r.pinned).") + "\n"
        }
        return out
    }
}
