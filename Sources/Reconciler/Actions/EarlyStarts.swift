import Foundation
import Lineage
import Manifests
import Planner
import State
import Synchronization
import Targets

/// The servers of a rollout's waves, all started at once beside what serves
/// (on targets that can run two versions behind one address:
/// ``TrafficSplitting``). When its wave comes, a target then only switches:
/// every request to the new version, the record kept, the target read
/// back; the old version drains and stops while the next wave moves. Each start is a
/// launch in the journal under the target's deploy key, naming what it
/// started, so a controller killed before the switch stops it again on
/// restart.
final class EarlyStarts: Sendable {
    struct Started: Sendable {
        var target: String
        var driver: any TrafficSplitting
        var stable: DeploymentRecord
        var next: DeploymentRecord
        var spec: DeploymentSpec
        var launchKey: String
    }

    private let tasks: Mutex<[String: Task<Result<Started, any Error>, Never>]>
    /// Old versions being stopped after their target switched and was read
    /// back: off the waves' critical path, awaited before the rollout ends.
    private let retiring = Mutex<[Task<Void, Never>]>([])

    private init(_ tasks: [String: Task<Result<Started, any Error>, Never>]) { self.tasks = Mutex(tasks) }

    /// Starts the next version on every target of the waves after the
    /// first that serves another version, healthy, through a driver that can
    /// run two side by side.
    static func begin(
        _ rollout: RolloutExecutor, _ r: Reconciler, _ desired: DesiredState, _ entry: Entry<DeploymentSpec>,
        _ prepared: RolloutExecutor.Prepared
    ) async -> EarlyStarts {
        guard rollout.waves.count > 1, !rollout.rollingBack else { return EarlyStarts([:]) }
        var tasks: [String: Task<Result<Started, any Error>, Never>] = [:]
        for move in rollout.waves.joined() {
            guard let from = move.fromVersion, from != rollout.version,
                let driver = try? r.driver(move.target, desired.manifests) as? any TrafficSplitting,
                let stable = try? r.store.deployment(rollout.deployment, target: move.target), stable.version == from
            else { continue }
            var object = entry.object
            object.spec = entry.spec.placed(on: move.target)
            let placed = Entry(object: object, origin: entry.origin)
            // A new address is a new forwarder: that target moves at its turn.
            guard placed.spec.address == nil || placed.spec.address == stable.address,
                await driver.observe(stable, spec: placed.spec).serving
            else { continue }
            let key = "deploy:\(rollout.deployment)@\(move.target):\(prepared.record.number)"
            tasks[move.target] = Task { () -> Result<Started, any Error> in
                do {
                    let launch = try r.journal.begin(.deploy, key: key, object: "Deployment/\(rollout.deployment)", target: move.target)
                    do {
                        var next = try await driver.startCanary(
                            DeployRequest(
                                deployment: placed, version: prepared.record, revision: desired.revision, current: stable,
                                specDigest: Planner.specDigest(placed.spec), registry: prepared.registry),
                            launch: launch)
                        next.target = move.target
                        return .success(Started(target: move.target, driver: driver, stable: stable, next: next, spec: placed.spec, launchKey: key))
                    } catch {
                        try? r.journal.close(key, .failed)
                        throw error
                    }
                } catch {
                    return .failure(error)
                }
            }
        }
        return EarlyStarts(tasks)
    }

    /// The early start of `target`, waited for; nil when it has none. A
    /// start that failed throws its error here.
    func take(_ target: String) async -> Result<Started, any Error>? {
        guard let task = tasks.withLock({ $0.removeValue(forKey: target) }) else { return nil }
        return await task.value
    }

    /// Moves a target that started early: every request to the new
    /// version, its record kept, the old version stopped, then read back.
    func switchTo(
        _ started: Result<Started, any Error>, _ rollout: RolloutExecutor, _ r: Reconciler, took: @Sendable () -> Void
    ) async throws {
        let s = try started.get()
        do {
            try await s.driver.split(s.next, stable: s.stable, percent: 100)
            try await s.driver.commit(s.next)
            try r.store.save(s.next)
        } catch {
            await s.driver.abandon(s.next, stable: s.stable)
            try? r.journal.close(s.launchKey, .failed)
            throw error
        }
        took()
        // Live once read back; the old version stops while the next wave
        // moves. Its launch stays open until then, naming what it stops.
        let retire = Task {
            await s.driver.finish(s.next, replacing: s.stable)
            try? r.journal.close(s.launchKey, .done)
        }
        retiring.withLock { $0.append(retire) }
        try await rollout.readBack(s.driver, s.next, s.spec)
    }

    /// Waits until every old version a switch left stopping has stopped.
    func retired() async {
        let pending = retiring.withLock { tasks in
            defer { tasks.removeAll() }
            return tasks
        }
        for task in pending { await task.value }
    }

    /// Stops every early start that was not switched to (a wave before it
    /// failed, or the controller is stopping).
    func abandonRest(_ r: Reconciler) async {
        await retired()
        let rest = tasks.withLock { tasks in
            defer { tasks.removeAll() }
            return Array(tasks.values)
        }
        for task in rest {
            guard case .success(let s) = await task.value else { continue }
            await s.driver.abandon(s.next, stable: s.stable)
            try? r.journal.close(s.launchKey, .failed)
        }
    }
}
