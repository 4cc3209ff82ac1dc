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
            note(
                "plan \(n): fetch \(ms(t1 - t0)), plan \(ms(t2 - t1)), \(plan.actions.count) actions; "
                    + "RSS \(Measure.statusKiB("VmRSS") / 1024) MiB (anonymous \(Measure.statusKiB("RssAnon") / 1024), files \(Measure.statusKiB("RssFile") / 1024))"
            )
            if stagesEvery == 0 || n % stagesEvery != 0 { continue }
            // The same plan again, stage by stage, in CPU time: on a busy
            // machine wall time says more about the neighbours.
            let c2 = Measure.cpu()
            let desired = await DesiredState.compute(revision, fingerprinter: Fingerprinter(store: controller.store), memo: controller.reconciler.desiredMemo)
            let c3 = Measure.cpu()
            let versions = try controller.store.allVersions()
            let c4 = Measure.cpu()
            let observed = try await controller.reconciler.observe(desired)
            let c5 = Measure.cpu()
            _ = controller.reconciler.planner.plan(desired: desired, observed: observed)
            let c6 = Measure.cpu()
            note(
                "  CPU: desired state \(ms(c3 - c2)), StateStore.allVersions \(ms(c4 - c3)) (\(versions.count) rows), observe \(ms(c5 - c4)), planner \(ms(c6 - c5))"
            )
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
            let model = shape.modelName(i)
            let path = shape.modelFilePath(shape.file(ofModel: i))
            try remote.push("Train \(model) for one more epoch") { clone in
                try Generator.bumpEpochs(in: clone + "/" + path, model: model)
            }
            let c0 = Measure.cpu()
            let t0 = Measure.now()
            try controller.source.update()
            let c1 = Measure.cpu()
            let revision = try controller.source.revision(at: nil)
            let c2 = Measure.cpu()
            let desired = await DesiredState.compute(revision, fingerprinter: Fingerprinter(store: controller.store), memo: controller.reconciler.desiredMemo)
            let c3 = Measure.cpu()
            let observed = try await controller.reconciler.observe(desired)
            let c4 = Measure.cpu()
            let plan = controller.reconciler.planner.plan(desired: desired, observed: observed)
            let c5 = Measure.cpu()
            let t5 = Measure.now()
            note(
                "round \(r): \(ms(t5 - t0)) wall; CPU: fetch \(ms(c1 - c0)), revision \(ms(c2 - c1)), desired \(ms(c3 - c2)), "
                    + "observe \(ms(c4 - c3)), planner \(ms(c5 - c4)); \(plan.actions.count) actions")
            // With GANTRY_PROFILE_REPEAT=N, each stage again on its own, N
            // times, for a profiler: the desired state and plan now
            // remembered; the desired state worked out against the last
            // revision and this one in turns, each carrying what it can from
            // the other; and the datasets' fingerprints. This leaves the
            // memos at another state than the controller's: the next round
            // is then planned from scratch.
            guard let repeats = Int(ProcessInfo.processInfo.environment["GANTRY_PROFILE_REPEAT"] ?? ""), repeats > 0 else {
                try controller.register(plan.actions.filter { $0.kind == .train })
                continue
            }
            let fingerprinter = Fingerprinter(store: controller.store)
            let c6 = Measure.cpu()
            for _ in 0..<repeats { _ = await DesiredState.compute(revision, fingerprinter: fingerprinter, memo: controller.reconciler.desiredMemo) }
            let c7 = Measure.cpu()
            for _ in 0..<repeats { _ = controller.reconciler.planner.plan(desired: desired, observed: observed) }
            let c8 = Measure.cpu()
            for _ in 0..<repeats {
                _ = await DesiredState.compute(previous ?? revision, fingerprinter: fingerprinter, memo: controller.reconciler.desiredMemo)
                _ = await DesiredState.compute(revision, fingerprinter: fingerprinter, memo: controller.reconciler.desiredMemo)
            }
            let c9 = Measure.cpu()
            for (_, dataset) in revision.manifests.datasets { _ = try await fingerprinter.fingerprint(dataset, in: revision) }
            let c10 = Measure.cpu()
            let n = Double(repeats)
            note(
                "  again, CPU per call: desired \(ms((c7 - c6) / n)), planner \(ms((c8 - c7) / n)); "
                    + "desired in turns with the last revision \(ms((c9 - c8) / (2 * n))); fingerprints \(ms(c10 - c9))")
            previous = revision
            try controller.register(plan.actions.filter { $0.kind == .train })
        }
    }
}
