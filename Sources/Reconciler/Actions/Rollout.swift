import Foundation
import Lineage
import Manifests
import Planner
import Processes
import State
import Synchronization
import Targets

/// Moves a Deployment's targets to a version, wave after wave. The targets
/// of a wave move together; a wave is done when each of its targets
/// *reports* the version live and healthy (read back from the driver, never
/// assumed), and only then does the next start. Each target's deploy is a
/// launch of its own in the journal, and its record is kept as soon as it
/// moved, so a controller killed mid-rollout plans the rest from what the
/// targets serve and repeats no finished wave.
///
/// When a wave fails and the Deployment has `autoRollback`, the failed
/// version is held (recorded before anything moves back), then every target
/// the rollout moved goes back to the version it served; a target that
/// served nothing before stops. Without `autoRollback` the targets stay
/// where they are and the next reconcile tries again.
struct RolloutExecutor: ActionExecutor {
    var deployment: String
    var model: String
    var version: Int
    var waves: [[Action.Move]]
    /// Putting targets back after a failed version: no hold, no rollback.
    var rollingBack = false

    /// A wave's failure, in words, after any rollback.
    struct Failed: Error, CustomStringConvertible {
        var description: String
    }

    func run(_ r: Reconciler, desired: DesiredState) async throws {
        guard let entry = desired.manifests.deployments[deployment] else {
            throw DriverError("Deployment \(deployment) is not declared at this revision")
        }
        // The version (and its registry entry) once for every target.
        let prepared: Prepared
        do {
            prepared = try await prepare(r, desired.manifests, entry, version)
        } catch {
            throw await fail(r, desired, entry, (waves.count > 1 ? "wave 1 of \(waves.count): " : "") + "\(error)", moved: [])
        }
        if let canary = try await canary(r, desired, entry) {
            try await canary.run(r, desired: desired, prepared: prepared)
            return
        }
        // Later waves' servers start now, beside what serves, so that each
        // wave costs a switch rather than a start; whatever of them is not
        // switched to is stopped again.
        let early = await EarlyStarts.begin(self, r, desired, entry, prepared)
        do {
            try await moveWaves(r, desired, entry, prepared, early: early)
            await early.retired()
        } catch {
            await early.abandonRest(r)
            throw error
        }
    }

    func moveWaves(
        _ r: Reconciler, _ desired: DesiredState, _ entry: Entry<DeploymentSpec>, _ prepared: Prepared, early: EarlyStarts
    ) async throws {
        var moved: [Action.Move] = []
        for (i, wave) in waves.enumerated() {
            var failures: [String] = []
            var stopped = false
            // A target that took the version but does not report it live has
            // moved all the same: it is rolled back with the others.
            await withTaskGroup(of: (Action.Move, Bool, (any Error)?).self) { group in
                for move in wave {
                    group.addTask {
                        let took = Mutex(false)
                        do {
                            if let started = await early.take(move.target) {
                                try await early.switchTo(started, self, r) { took.withLock { $0 = true } }
                            } else {
                                try await deploy(r, desired, entry, move.target, prepared) { took.withLock { $0 = true } }
                            }
                            return (move, true, nil)
                        } catch {
                            return (move, took.withLock { $0 }, error)
                        }
                    }
                }
                let named = waves.joined().count > 1
                for await (move, took, error) in group {
                    if took { moved.append(move) }
                    if error is CancellationError {
                        stopped = true
                    } else if let error {
                        failures.append(named ? "\(move.target): \(error)" : "\(error)")
                    }
                }
            }
            // A controller stopping is no failure: the next one plans the
            // rest from what the targets serve.
            if stopped || Task.isCancelled { throw CancellationError() }
            guard failures.isEmpty else {
                let what = (waves.count > 1 ? "wave \(i + 1) of \(waves.count): " : "") + failures.sorted().joined(separator: "; ")
                throw await fail(r, desired, entry, what, moved: moved)
            }
            let judge = WaveJudge(rollout: self, entry: entry, wave: wave, number: i + 1, of: waves.count)
            if let problem = try await judge.run(r, desired) {
                throw await fail(r, desired, entry, (waves.count > 1 ? "wave \(i + 1) of \(waves.count): " : "") + problem, moved: moved)
            }
        }
    }

    /// The canary this rollout runs as: a Deployment with `type: canary`
    /// moving its one target from another version, on a target that splits
    /// traffic. A first deploy (nothing to split with), a repair or a serve
    /// spec change of the version that serves, and a rollback go at once; so
    /// does a move from a version whose server is not running (there is
    /// nothing to compare with, or to go back to).
    func canary(_ r: Reconciler, _ desired: DesiredState, _ entry: Entry<DeploymentSpec>) async throws -> CanaryRun? {
        guard !rollingBack, let strategy = entry.spec.strategy, strategy.type == .canary, waves.count == 1, waves[0].count == 1,
            let move = waves.first?.first, let from = move.fromVersion, from != version,
            let driver = try r.driver(move.target, desired.manifests) as? any TrafficSplitting,
            let stable = try r.store.deployment(deployment, target: move.target), stable.version == from,
            await driver.observe(stable, spec: entry.spec.placed(on: move.target)).serving
        else { return nil }
        return CanaryRun(rollout: self, entry: entry, target: move.target, strategy: strategy, driver: driver, stable: stable)
    }

    /// A version as every target is given it.
    struct Prepared: Sendable {
        var record: VersionRecord
        var registry: RegistryModel?
    }

    /// `number`'s record, published first to the Deployment's registry when
    /// it serves from one (so the servers find it there).
    func prepare(_ r: Reconciler, _ manifests: ManifestSet, _ entry: Entry<DeploymentSpec>, _ number: Int) async throws -> Prepared {
        guard let record = try r.store.version(model, number) else { throw DriverError("\(model)@\(number) does not exist") }
        guard let source = entry.spec.serve.registry else { return Prepared(record: record) }
        guard let publisher = try r.driver(source, manifests) as? any ModelRegistry else {
            throw DriverError("Deployment \(deployment): spec.serve.registry \(source) is not an mlflow target")
        }
        return Prepared(record: record, registry: try await publisher.published(record))
    }

    /// Brings one target to the prepared version through the journal, keeps
    /// its record, retires what served before, then reads the target back.
    /// `took` runs once the target's new record is kept.
    func deploy(
        _ r: Reconciler, _ desired: DesiredState, _ entry: Entry<DeploymentSpec>, _ target: String, _ version: Prepared,
        took: @Sendable () -> Void = {}
    ) async throws {
        var object = entry.object
        object.spec = entry.spec.placed(on: target)
        let placed = Entry(object: object, origin: entry.origin)
        let driver = try r.driver(target, desired.manifests)
        let (record, registry, number) = (version.record, version.registry, version.record.number)
        let current = try r.store.deployment(deployment, target: target)
        let launch = try r.journal.begin(
            .deploy, key: "deploy:\(deployment)@\(target):\(number)", object: "Deployment/\(deployment)", target: target)
        var served: DeploymentRecord
        do {
            served = try await driver.deploy(
                DeployRequest(
                    deployment: placed, version: record, revision: desired.revision, current: current,
                    specDigest: Planner.specDigest(placed.spec), registry: registry),
                launch: launch)
            served.target = target
            try r.store.save(served)
            took()
            try r.journal.close(launch.key, .done)
        } catch {
            try? r.journal.close(launch.key, .failed)
            throw error
        }
        if let current { await driver.retire(current, replacedBy: served) }
        try await readBack(driver, served, placed.spec)
    }

    /// How often, and how far apart, a target is asked whether it serves
    /// what it was just given: a driver's status may lag its deploy.
    static let readBacks = 5
    static let readBackGap = Duration.milliseconds(200)

    func readBack(_ driver: any TargetDriver, _ served: DeploymentRecord, _ spec: DeploymentSpec) async throws {
        var seen = await driver.observe(served, spec: spec)
        for _ in 1..<Self.readBacks where !(seen.serving && seen.forwarding && seen.healthy != false) {
            try await Task.sleep(for: Self.readBackGap)
            seen = await driver.observe(served, spec: spec)
        }
        guard seen.serving && seen.forwarding && seen.healthy != false else {
            throw DriverError("deployed, but does not report \(model)@\(served.version) live and healthy: \(seen.detail)")
        }
    }

    /// The error a failed wave ends the rollout with, after holding the
    /// version and putting back every target it moved (with autoRollback).
    func fail(_ r: Reconciler, _ desired: DesiredState, _ entry: Entry<DeploymentSpec>, _ what: String, moved: [Action.Move]) async -> Failed {
        // A repair of the version that serves (a dead server restarted) has
        // nothing to go back to: it is tried again, never held.
        guard entry.spec.autoRollback == true, !rollingBack, waves.joined().contains(where: { $0.fromVersion != version }) else {
            return Failed(description: what)
        }
        let froms = waves.joined().compactMap(\.fromVersion).filter { $0 != version }
        let previous = froms.first
        do {
            try r.store.save(
                HoldRecord(
                    deployment: deployment, model: model, version: version, specDigest: Planner.specDigest(entry.spec),
                    previous: previous, reason: what, createdAt: Date()))
        } catch {
            return Failed(description: "\(what); the failed version could not be held: \(error)")
        }
        // Frozen: every target stays on what it serves now, and Git keeps
        // the pin (a person decides).
        if entry.spec.strategy?.onFailure == .freeze {
            var serving: [String] = []
            for target in waves.joined().map(\.target).sorted() {
                let record = try? r.store.deployment(deployment, target: target)
                serving.append("\(target) v\(record.map { String($0.version) } ?? "-")")
            }
            return Failed(
                description:
                    "\(what); frozen (onFailure: freeze): \(serving.joined(separator: ", ")); v\(version) held: nothing moves until Git pins another version or changes the serve spec"
            )
        }
        // Every moved target goes back at once: the rollback is one wave.
        var back: [String] = []
        var problems: [String] = []
        let started = ContinuousClock.now
        // Each version gone back to is prepared once, not once per target.
        var olds: [Int: Result<Prepared, any Error>] = [:]
        for from in Set(moved.compactMap(\.fromVersion)) where from != version {
            do { olds[from] = .success(try await prepare(r, desired.manifests, entry, from)) } catch { olds[from] = .failure(error) }
        }
        let prepared = olds
        await withTaskGroup(of: (String, Result<String?, any Error>).self) { group in
            // A target moved from the same version needs nothing back (a repair).
            for move in moved where move.fromVersion != version {
                group.addTask {
                    do {
                        if let from = move.fromVersion, let old = prepared[from] {
                            try await deploy(r, desired, entry, move.target, try old.get())
                            return (move.target, .success("\(move.target) to v\(from)"))
                        }
                        guard let record = try r.store.deployment(deployment, target: move.target) else { return (move.target, .success(nil)) }
                        try await r.driver(move.target, desired.manifests).stop(record)
                        try r.store.removeDeployment(deployment, target: move.target)
                        return (move.target, .success("\(move.target) stopped (it served nothing before)"))
                    } catch {
                        return (move.target, .failure(error))
                    }
                }
            }
            for await (target, result) in group {
                switch result {
                case .success(let done): if let done { back.append(done) }
                case .failure(let error): problems.append("\(target): \(error)")
                }
            }
        }
        let took = (ContinuousClock.now - started).seconds
        var text = what
        if !back.isEmpty { text += "; rolled back " + back.sorted().joined(separator: ", ") + " in \(String(format: "%.2f", took)) s" }
        if !problems.isEmpty {
            text += "; rolling back failed on " + problems.sorted().joined(separator: "; ") + " (retried on the next reconcile)"
        }
        text += "; v\(version) held until Git pins another version or changes the serve spec"
        // Git is made to agree: a pin-back commit where the model's
        // promotion is automatic, a branch for review otherwise.
        if let previous, r.writeBack != nil {
            let review = desired.manifests.models[model]?.spec.promotion?.policy != .auto
            do {
                let pinned = try r.rollback(
                    deployment: deployment, to: previous, actor: "gantry", reason: "automatic rollback: \(what)", onlyFrom: version, review: review)
                text += "; Git: \(pinned.outcome)"
            } catch {
                text += "; the pin-back commit failed: \(error)"
            }
        }
        return Failed(description: text)
    }
}
