import Foundation
import Planner

/// Scenario 5: resident memory of a controller holding 10,000 models over
/// 1,000 reconciles. Every tenth reconcile follows a pushed commit that
/// edits one models file (a comment: the file is decoded again, no lineage
/// changes), so the caches turn over the way they do in service.
enum Memory {
    static let checkpoints: Set<Int> = [1, 10, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]

    static func run(work: String, repository: String, reconciles: Int, out: String) async throws {
        let shape = RepositoryShape(deployments: false)
        let remote = try Remote(work: work, name: "memory", source: repository)
        let state = work + "/state-memory"
        try? FileManager.default.removeItem(atPath: state)
        // Versions are registered by another process, so that this one holds
        // only what a controller holds.
        note("scenario 5: registering a version for every model (separate process)")
        try Child.check([CommandLine.arguments[0], "register", "--url", remote.url, "--state", state, "--seed", work + "/state-noop"])

        let rssStart = Measure.rssMiB()
        let controller = try Controller(url: remote.url, state: state, fresh: false)
        var rss: [(Int, Double)] = []
        var anonymous: [(Int, Double)] = []
        var quiet = Series("reconcile, nothing new")
        var afterPush = Series("reconcile after a push")
        note("scenario 5: \(reconciles) reconciles")
        for n in 1...reconciles {
            let pushed = n % 10 == 0
            if pushed {
                let f = (n / 10 * 37) % shape.modelFiles
                try remote.push("Review \(shape.modelFilePath(f))") { clone in
                    try Generator(shape: shape, directory: clone).editComment(file: f, revision: 1000 + n)
                }
            }
            let t0 = Measure.now()
            let (desired, plan) = try await controller.fetchAndPlan()
            if plan.hasChanges {
                throw BenchFailure("reconcile \(n) planned \(plan.actions.count) actions: \(plan.actions.prefix(3).map(\.summary))")
            }
            _ = desired
            // As ControllerLoop does after every reconcile.
            controller.maintain()
            let t = Measure.now() - t0
            if n > 1 {
                if pushed { afterPush.samples.append(t) } else { quiet.samples.append(t) }
            }
            if checkpoints.contains(n) || n == reconciles {
                rss.append((n, Measure.rssMiB()))
                anonymous.append((n, Double(Measure.statusKiB("RssAnon")) / 1024))
                note("scenario 5: after reconcile \(n): \(String(format: "%.1f", rss.last!.1)) MiB")
            }
        }
        var result = ScenarioResult(id: "memory")
        result.series = [quiet, afterPush]
        for (n, mib) in rss { result.facts["rss after \(n)"] = String(format: "%.1f", mib) }
        for (n, mib) in anonymous { result.facts["anonymous after \(n)"] = String(format: "%.1f", mib) }
        result.facts["rss before the controller"] = String(format: "%.1f", rssStart)
        result.facts["peak rss"] = String(format: "%.1f", Double(Measure.statusKiB("VmHWM")) / 1024)
        result.facts["reconciles"] = "\(reconciles)"
        result.facts["models"] = "\(try controller.source.revision(at: nil).manifests.models.count)"
        try result.write(to: out)
    }

    /// The `register` helper: brings a state directory to the steady state.
    static func register(url: String, state: String, seed: String?) async throws {
        let controller = try Controller(url: url, state: state, fresh: false, seed: seed)
        let n = try await controller.registerMissingVersions()
        note("registered \(n) versions")
    }
}
