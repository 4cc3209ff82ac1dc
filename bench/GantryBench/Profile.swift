import Foundation
import Lineage
import Planner
import Source

/// `profile-plan`: repeated fetch-and-plan against an existing state
/// directory, for profilers (valgrind, perf) rather than for figures.
enum ProfilePlan {
    static func run(url: String, state: String, plans: Int, stagesEvery: Int = 1) async throws {
        let controller = try Controller(url: url, state: state, fresh: false)
        // GANTRY_PROFILE=fetch or =plan repeats only that half, to tell
        // which one a change in resident memory comes from.
        let only = ProcessInfo.processInfo.environment["GANTRY_PROFILE"]
        var revision = try controller.source.fetch()
        for n in 1...plans {
            let t0 = Measure.now()
            if only != "plan" { revision = try controller.source.fetch() }
            let t1 = Measure.now()
            if only == "fetch" {
                note("fetch \(n): \(ms(t1 - t0)); RSS \(Measure.statusKiB("VmRSS") / 1024) MiB (anonymous \(Measure.statusKiB("RssAnon") / 1024))")
                continue
            }
            let (_, plan) = try await controller.reconciler.plan(revision)
            let t2 = Measure.now()
            note("plan \(n): fetch \(ms(t1 - t0)), plan \(ms(t2 - t1)), \(plan.actions.count) actions; "
                 + "RSS \(Measure.statusKiB("VmRSS") / 1024) MiB (anonymous \(Measure.statusKiB("RssAnon") / 1024), files \(Measure.statusKiB("RssFile") / 1024))")
            if stagesEvery == 0 || n % stagesEvery != 0 { continue }
            // The same plan again, stage by stage, in CPU time: on a busy
            // machine wall time says more about the neighbours.
            let c2 = Measure.cpu()
            let desired = await DesiredState.compute(revision, fingerprinter: Fingerprinter(store: controller.store))
            let c3 = Measure.cpu()
            let versions = try controller.store.allVersions()
            let c4 = Measure.cpu()
            let observed = try await controller.reconciler.observe(desired)
            let c5 = Measure.cpu()
            _ = Planner(desired: desired, observed: observed).plan()
            let c6 = Measure.cpu()
            note("  CPU: desired state \(ms(c3 - c2)), StateStore.allVersions \(ms(c4 - c3)) (\(versions.count) rows), observe \(ms(c5 - c4)), planner \(ms(c6 - c5))")
        }
    }
}

/// `profile-change`: pushes a one-line change and fetches and plans it,
/// again and again, timing each stage in CPU time: the loop of scenario 1
/// without its baselines, for a profiler.
enum ProfileChange {
    static func run(work: String, repository: String, rounds: Int) async throws {
        let shape = RepositoryShape()
        let remote = try Remote(work: work, name: "profile-change", source: repository)
        let controller = try Controller(url: remote.url, state: work + "/state-profile-change", seed: work + "/state-change")
        note("registered \(try await controller.registerMissingVersions()) versions")
        var previous: Revision?
        for r in 0..<rounds {
            let i = (r * 997 + 13) % shape.models
            let model = shape.modelName(i), path = shape.modelFilePath(shape.file(ofModel: i))
            try remote.push("Train \(model) for one more epoch") { clone in
                try Generator.bumpEpochs(in: clone + "/" + path, model: model)
            }
            let c0 = Measure.cpu(), t0 = Measure.now()
            try controller.source.update()
            let c1 = Measure.cpu()
            let revision = try controller.source.revision(at: nil)
            let c2 = Measure.cpu()
            let desired = await DesiredState.compute(revision, fingerprinter: Fingerprinter(store: controller.store))
            let c3 = Measure.cpu()
            let observed = try await controller.reconciler.observe(desired)
            let c4 = Measure.cpu()
            let plan = Planner(desired: desired, observed: observed).plan()
            let c5 = Measure.cpu(), t5 = Measure.now()
            note("round \(r): \(ms(t5 - t0)) wall; CPU: fetch \(ms(c1 - c0)), revision \(ms(c2 - c1)), desired \(ms(c3 - c2)), "
                 + "observe \(ms(c4 - c3)), planner \(ms(c5 - c4)); \(plan.actions.count) actions")
            // GANTRY_PROFILE_REPEAT=N works out the desired state (now all
            // remembered) and plans N times here, for a profiler.
            let repeats = max(1, Int(ProcessInfo.processInfo.environment["GANTRY_PROFILE_REPEAT"] ?? "") ?? 1)
            let c6 = Measure.cpu()
            for _ in 0..<repeats { _ = await DesiredState.compute(revision, fingerprinter: Fingerprinter(store: controller.store)) }
            let c7 = Measure.cpu()
            for _ in 0..<repeats { _ = Planner(desired: desired, observed: observed).plan() }
            let c8 = Measure.cpu()
            // And against the last revision and this one in turns: each
            // computation carries what it can from the other.
            if let previous {
                for _ in 0..<repeats {
                    _ = await DesiredState.compute(previous, fingerprinter: Fingerprinter(store: controller.store))
                    _ = await DesiredState.compute(revision, fingerprinter: Fingerprinter(store: controller.store))
                }
            }
            let c8b = Measure.cpu()
            previous = revision
            let fingerprinter = Fingerprinter(store: controller.store)
            for (_, dataset) in revision.manifests.datasets { _ = try await fingerprinter.fingerprint(dataset, in: revision) }
            let c9 = Measure.cpu()
            let windows = revision.manifests.models.values.compactMap { m in m.spec.triggers?.schedule.map { "\(m.name)=\($0.seconds)" } }
            let c10 = Measure.cpu()
            note("  again, CPU: desired \(ms(c7 - c6)), planner \(ms(c8 - c7)); desired in turns with the last revision \(ms((c8b - c8) / Double(2 * repeats))); "
                 + "fingerprints \(ms(c9 - c8b)), windows \(ms(c10 - c9)) (\(windows.count))")
            try controller.register(plan.actions.filter { $0.kind == .train })
            let c11 = Measure.cpu()
            _ = try controller.store.versionsByModel()
            note("  CPU: versions read again after registering one \(ms(Measure.cpu() - c11))")
        }
    }
}
