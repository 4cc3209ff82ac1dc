import Foundation
import Lineage
import Manifests
import Planner
import Processes
import StableAddress
import State
import Synchronization
import Targets

/// Where each canary under way stands, by Deployment: written by the
/// canary as it moves, read by the controller's metrics and API.
public final class CanaryProgress: Sendable {
    public struct Step: Sendable, Equatable, Codable {
        public var deployment: String
        public var target: String
        public var version: Int
        public var fromVersion: Int
        /// 1-based, of `steps` (the last is 100%).
        public var step: Int
        public var steps: Int
        /// The new version's share of requests now.
        public var percent: Int
        /// The new version's requests in this step so far.
        public var readings: BackendStats
        public var since: Date

        public init(
            deployment: String, target: String, version: Int, fromVersion: Int, step: Int, steps: Int, percent: Int,
            readings: BackendStats, since: Date
        ) {
            self.deployment = deployment
            self.target = target
            self.version = version
            self.fromVersion = fromVersion
            self.step = step
            self.steps = steps
            self.percent = percent
            self.readings = readings
            self.since = since
        }
    }

    private let state = Mutex<[String: Step]>([:])

    public init() {}

    public var all: [Step] { state.withLock { $0.values.sorted { $0.deployment < $1.deployment } } }

    func update(_ step: Step) { state.withLock { $0[step.deployment] = step } }
    func readings(_ deployment: String, _ readings: BackendStats) { state.withLock { $0[deployment]?.readings = readings } }
    func end(_ deployment: String) { state.withLock { $0[deployment] = nil } }
}

/// A canary on one target that splits traffic: the new version starts next
/// to the one that serves, takes each step's share of requests for the
/// step's pause, and goes on only if the forwarder's own readings of it pass
/// the analysis. A failed step puts every request back on the old version
/// and stops the new one; with `autoRollback` the version is then held and
/// Git made to agree, as for any failed rollout.
///
/// The record keeps naming the old version until the canary takes every
/// request; the new server is named only by its launch in the journal, so a
/// controller killed mid-canary sends every request back to the old version
/// and stops the new one on restart (recovery), and the next reconcile
/// starts the canary again from its first step. The launch names the old
/// servers too and stays open until they stop, so a kill after the new
/// record is kept leaves recovery to stop them.
struct CanaryRun {
    var rollout: RolloutExecutor
    var entry: Entry<DeploymentSpec>
    var target: String
    var strategy: Strategy
    var driver: any TrafficSplitting
    var stable: DeploymentRecord

    /// How often a step's readings are taken.
    static let readingGap = Duration.milliseconds(250)

    func run(_ r: Reconciler, desired: DesiredState, prepared: RolloutExecutor.Prepared) async throws {
        var object = entry.object
        object.spec = entry.spec.placed(on: target)
        let placed = Entry(object: object, origin: entry.origin)
        let (deployment, number) = (rollout.deployment, prepared.record.number)
        let launch = try r.journal.begin(
            .deploy, key: "deploy:\(deployment)@\(target):\(number)", object: "Deployment/\(deployment)", target: target)
        var canary: DeploymentRecord
        do {
            canary = try await driver.startCanary(
                DeployRequest(
                    deployment: placed, version: prepared.record, revision: desired.revision, current: stable,
                    specDigest: Planner.specDigest(placed.spec), registry: prepared.registry),
                launch: launch)
            canary.target = target
        } catch {
            try? r.journal.close(launch.key, .failed)
            throw await rollout.fail(r, desired, entry, "canary: \(error)", moved: [])
        }
        let steps = (strategy.steps ?? [100]).filter { $0 < 100 }
        defer { r.canaries.end(deployment) }
        for (i, percent) in steps.enumerated() {
            let what = "canary step \(i + 1) of \(steps.count + 1) (\(percent)% to v\(number))"
            do {
                try Task.checkCancellation()
                try await driver.split(canary, stable: stable, percent: percent)
                r.canaries.update(
                    CanaryProgress.Step(
                        deployment: deployment, target: target, version: number, fromVersion: stable.version, step: i + 1,
                        steps: steps.count + 1, percent: percent, readings: BackendStats(), since: Date()))
                try await judge(canary, placed.spec) { r.canaries.readings(deployment, $0) }
                if let metrics = strategy.analysis?.metrics {
                    try await AnalysisGates.check(metrics, canary, driver)
                }
                if let command = strategy.analysis?.command {
                    try await AnalysisGates.evaluate(
                        command, on: canary, values: ["percent": String(percent), "target": target, "wave": "1"],
                        limit: max(strategy.pause?.duration ?? .zero, .seconds(60)), r, desired)
                }
            } catch {
                throw await stop(r, desired, canary, launch, at: percent, "\(what): \(error)", cancelled: error is CancellationError)
            }
        }
        do {
            try await driver.split(canary, stable: stable, percent: 100)
            try await driver.commit(canary)
            try r.store.save(canary)
        } catch {
            throw await stop(r, desired, canary, launch, at: nil, "canary at 100%: \(error)", cancelled: error is CancellationError)
        }
        // The launch stays open until the old version has stopped: a
        // controller killed before that leaves recovery to stop it.
        await driver.finish(canary, replacing: stable)
        try r.journal.close(launch.key, .done)
        do {
            try await rollout.readBack(driver, canary, placed.spec)
        } catch {
            throw await rollout.fail(r, desired, entry, "\(error)", moved: [Action.Move(target: target, fromVersion: stable.version)])
        }
    }

    /// Ends a canary that failed `what`. With `onFailure: freeze` the split
    /// stays as it is: the new version keeps its share, its launch stays
    /// open (recovery leaves it while the version is held), and a person
    /// decides in Git. Otherwise every request goes back to the old version
    /// and the new one stops. Returns what the rollout reports.
    func stop(
        _ r: Reconciler, _ desired: DesiredState, _ canary: DeploymentRecord, _ launch: Launch, at percent: Int?, _ what: String,
        cancelled: Bool
    ) async -> any Error {
        let freeze = !cancelled && entry.spec.autoRollback == true && strategy.onFailure == .freeze
        if freeze {
            let split = percent.map { "v\(canary.version) keeps \($0)% of requests" } ?? "the split stays where the switch to 100% left it"
            let failed = await rollout.fail(r, desired, entry, "\(what); \(split)", moved: [])
            // Frozen only if the version is held; without a hold the next
            // reconcile would start over, so the split cannot stay.
            if (try? r.store.hold(rollout.deployment))?.version == canary.version { return failed }
            await driver.abandon(canary, stable: stable)
            try? r.journal.close(launch.key, .failed)
            return failed
        }
        await driver.abandon(canary, stable: stable)
        try? r.journal.close(launch.key, .failed)
        if cancelled { return CancellationError() }
        let back = percent == nil ? "" : "; every request back on v\(stable.version), v\(canary.version) stopped"
        return await rollout.fail(r, desired, entry, what + back, moved: [])
    }

    /// Waits out one step: the new version must keep running and healthy,
    /// and once the pause is over and enough requests reached it, its error
    /// rate and latency must be within the analysis. An error rate already
    /// over the limit ends the step early.
    func judge(_ canary: DeploymentRecord, _ spec: DeploymentSpec, seen report: (BackendStats) -> Void = { _ in }) async throws {
        let pause = strategy.pause?.duration ?? .zero
        let analysis = strategy.analysis
        let minRequests = analysis?.minRequests ?? 10
        let longest = analysis?.maxDuration?.duration ?? max(pause * 10, .seconds(60))
        let baseline = await driver.readings(canary)
        let started = ContinuousClock.now
        while true {
            try await Task.sleep(for: Self.readingGap)
            let seen = await driver.observe(canary: canary, spec: spec)
            guard seen.serving, seen.healthy != false else {
                throw DriverError("v\(canary.version) stopped serving: \(seen.detail)")
            }
            let window = await driver.readings(canary)?.since(baseline) ?? BackendStats()
            report(window)
            let elapsed = ContinuousClock.now - started
            if window.requests >= minRequests, let verdict = Self.verdict(window, analysis) { throw DriverError(verdict) }
            // Only an error rate or a latency needs requests to judge.
            if elapsed >= pause, window.requests >= minRequests || analysis?.readsTraffic != true { return }
            if elapsed >= longest {
                throw DriverError(
                    "only \(window.requests) requests reached v\(canary.version) in \(TimeSpan(seconds: longest.seconds)); analysis needs \(minRequests)")
            }
        }
    }

    /// Why `window` fails `analysis`, or nil when it passes.
    static func verdict(_ window: BackendStats, _ analysis: Analysis?) -> String? {
        guard let analysis else { return nil }
        if let limit = analysis.maxErrorRate, let rate = window.errorRate, rate > limit {
            return "error rate \(String(format: "%.3f", rate)) (\(window.failures) of \(window.requests) requests) is over \(limit)"
        }
        if let limit = analysis.maxLatencyP99?.duration, let p99 = window.quantile(0.99), p99 > limit.seconds {
            let shown = p99.isInfinite ? "over \(BackendStats.bounds.last!) s" : "up to \(p99) s"
            return "p99 latency \(shown) over \(window.requests) requests is over \(analysis.maxLatencyP99!)"
        }
        return nil
    }
}
