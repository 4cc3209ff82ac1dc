import Foundation
import Lineage
import Planner

/// Where a plan's time goes: the stages `Reconciler.plan` runs, each timed
/// on its own against the same revision. Run after a scenario's measured
/// rounds, so it cannot disturb them.
enum Stages {
    static let desired = "stage: desired state (lineages)"
    static let versions = "stage: StateStore.allVersions (every version in order, as `gantry versions` reads them; not on the plan's path)"
    static let observe = "stage: Reconciler.observe (versions from memory)"
    static let planner = "stage: Planner.plan"

    /// `before` runs ahead of each round (a push, for the changed-manifest
    /// scenario, so that each round plans a new commit).
    static func measure(_ controller: Controller, rounds: Int, before: (Int) throws -> Void = { _ in }) async throws -> [Series] {
        var out = [Series(desired), Series(versions), Series(observe), Series(planner)]
        for r in 0..<rounds {
            try before(r)
            let revision = try controller.source.fetch()
            let t0 = Measure.now()
            let state = await DesiredState.compute(revision, fingerprinter: Fingerprinter(store: controller.store), memo: controller.reconciler.desiredMemo)
            let t1 = Measure.now()
            _ = try controller.store.allVersions()
            let t2 = Measure.now()
            let observed = try await controller.reconciler.observe(state)
            let t3 = Measure.now()
            _ = controller.reconciler.planner.plan(desired: state, observed: observed)
            let t4 = Measure.now()
            for (i, t) in [t1 - t0, t2 - t1, t3 - t2, t4 - t3].enumerated() { out[i].samples.append(t) }
        }
        return out
    }
}
