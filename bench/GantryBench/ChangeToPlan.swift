import Foundation
import Manifests
import Planner
import Source

/// Scenario 1: one manifest changed in the full repository; time from the
/// push returning to the plan being ready, fetch included.
enum ChangeToPlan {
    static let gantry = "Gantry: fetch + plan"
    static let all = GitCommandLine.Strategy.decodeAll.rawValue
    static let changed = GitCommandLine.Strategy.decodeChanged.rawValue
    static let fetchFile = "git CLI: fetch only over file:// (in both baselines)"
    static let fetchGit = "git CLI: fetch only over git:// (git daemon)"
    static let fetchHTTP = "git CLI: fetch only over smart HTTP (git http-backend)"

    static func run(work: String, repository: String, rounds: Int, out: String) async throws {
        let shape = RepositoryShape()
        let remote = try Remote(work: work, name: "change", source: repository)
        let controller = try Controller(url: remote.url, state: work + "/state-change")
        note("scenario 1: registering a version for every model")
        let registered = try await controller.registerMissingVersions()
        // The baselines fetch over file://, git's fastest transport here; git
        // alone also fetches each push over git:// and smart HTTP.
        var cliAll = try GitCommandLine(directory: try remote.clone("cli-all", from: remote.fileURL), strategy: .decodeAll)
        var cliChanged = try GitCommandLine(directory: try remote.clone("cli-changed", from: remote.fileURL), strategy: .decodeChanged)
        let overGit = try remote.clone("cli-git")
        let overHTTP = try remote.clone("cli-http", from: remote.httpURL)

        var result = ScenarioResult(id: "change")
        var fetchDecode = Series("Gantry: fetch + decode")
        var planOnly = Series("Gantry: plan only")
        // The fetch alone is libgit2 and git daemon: the network's share.
        var fetchOnly = Series("Gantry: fetch only (libgit2 from git daemon)")
        // git's own fetch from the same daemon, inside both baselines: with
        // Gantry's, what no client can go much below.
        var cliFetch = Series(fetchFile)
        var pushSeconds: [Double] = []
        var model = ""
        var path = ""
        var lastPlan: Plan?
        var decodes: [Int] = []
        var measuring = false

        func round(_ r: Int) throws {
            let i = (r * 997 + 13) % shape.models
            model = shape.modelName(i)
            path = shape.modelFilePath(shape.file(ofModel: i))
            pushSeconds.append(
                try remote.push("Train \(model) for one more epoch") { clone in
                    try Generator.bumpEpochs(in: clone + "/" + path, model: model)
                })
        }

        func contestant(_ name: String) async throws -> Double {
            switch name {
            case gantry:
                let before = controller.source.decodeCount
                let t0 = Measure.now()
                try controller.source.update(compacting: false)
                let tf = Measure.now()
                let revision = try controller.source.revision(at: nil)
                let t1 = Measure.now()
                let (_, plan) = try await controller.reconciler.plan(revision)
                let t2 = Measure.now()
                guard plan.isValid, plan.actions.contains(where: { $0.kind == .train && $0.object == "Model/\(model)" }) else {
                    throw BenchFailure("Gantry's plan does not retrain \(model): \(plan.diagnostics.prefix(3))")
                }
                if measuring {
                    fetchDecode.samples.append(t1 - t0)
                    fetchOnly.samples.append(tf - t0)
                    planOnly.samples.append(t2 - t1)
                    decodes.append(controller.source.decodeCount - before)
                }
                lastPlan = plan
                // As if the model had been retrained: the next push again
                // finds every other model in sync.
                try controller.register(plan.actions.filter { $0.kind == .train })
                controller.maintain()  // after the reconcile, as the controller loop does
                return t2 - t0
            case fetchGit, fetchHTTP:
                return try Measure.time { try Child.check(["git", "-C", name == fetchGit ? overGit : overHTTP, "fetch", "-q", "origin"]) }
            default:
                let t0 = Measure.now()
                let outcome = name == all ? try cliAll.poll() : try cliChanged.poll()
                let t = Measure.now() - t0
                if measuring { cliFetch.samples.append(name == all ? cliAll.lastFetchSeconds : cliChanged.lastFetchSeconds) }
                guard outcome.changed == [path], outcome.diagnostics == 0 else {
                    throw BenchFailure("\(name) saw \(outcome.changed) and \(outcome.diagnostics) problems")
                }
                return t
            }
        }

        let names = [gantry, all, changed, fetchGit, fetchHTTP]
        note("scenario 1: warming up")
        _ = try await alternate(rounds: 2, names, round, contestant)
        measuring = true
        note("scenario 1: \(rounds) rounds")
        result.series = try await alternate(rounds: rounds, names, { r in try round(r + 2) }, contestant)
        result.series += [fetchDecode, fetchOnly, cliFetch, planOnly]
        result.series += try await Stages.measure(controller, rounds: 5) { r in try round(rounds + 2 + r) }
        let plan = lastPlan!
        result.facts = [
            "versions registered": "\(registered)",
            "files decoded by Gantry per push": Set(decodes).sorted().map(String.init).joined(separator: ", "),
            "last plan":
                "\(plan.actions.filter { $0.kind == .train }.count) train, \(plan.actions.filter { $0.kind == .deploy }.count) deploy, \(plan.inSync.count) in sync",
            "push median": ms(Measure.median(Array(pushSeconds.dropFirst(2)))),
            "objects": "\(controller.source.fetchLastObjectCount)",
        ]
        if let decodeAll = result[all] {
            // What the 50x goal asks of Gantry's whole push-to-plan, beside
            // what git daemon takes to answer a fetch at all.
            result.facts["50x git CLI + decode all means at most"] = ms(decodeAll.median / 50)
        }
        try result.write(to: out)
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension GitSource {
    /// How many objects the latest revision holds.
    var fetchLastObjectCount: Int { (try? revision(at: nil).manifests.count) ?? -1 }
}
