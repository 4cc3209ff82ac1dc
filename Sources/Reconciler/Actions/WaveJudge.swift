import Foundation
import Lineage
import Manifests
import Planner
import State
import Targets

/// Judges a wave that moved: for the strategy's `pause` each of its targets
/// must go on reporting the version live and healthy, and where the
/// analysis reads traffic, the forwarder's counts of the new version's
/// requests since the wave moved must stay within it; then the version's
/// own metrics and the evaluation command are checked on each target. The
/// last wave is judged only when there is an analysis (a pause alone only
/// spaces waves). Only a wave that changes some target's version is
/// analysed; a first deploy, a repair and a rollback to the version before
/// a held one are not.
struct WaveJudge {
    var rollout: RolloutExecutor
    var entry: Entry<DeploymentSpec>
    var wave: [Action.Move]
    /// 1-based.
    var number: Int
    var of: Int

    /// What a target of the wave answered so far: the new version's share
    /// of the forwarder's counts.
    struct Counts {
        var requests = 0
        var failures = 0
        var p99: Double?
    }

    /// The first problem, in words (with its target), or nil when the wave
    /// passed.
    func run(_ r: Reconciler, _ desired: DesiredState) async throws -> String? {
        let strategy = entry.spec.strategy
        // A canary's analysis judges its steps; what moves at once under a
        // canary is not a step. In waves, the analysis judges a change of
        // version: a first deploy or a repair has none to go back to.
        let changes = wave.contains { $0.fromVersion != nil && $0.fromVersion != rollout.version }
        let analysis = strategy?.type == .waves && changes ? strategy?.analysis : nil
        // Going back to a version after a failed one is urgent: not judged.
        guard !rollout.rollingBack, number < of || analysis != nil else { return nil }
        guard strategy?.pause != nil || analysis != nil else { return nil }
        let pause = strategy?.pause?.duration ?? .zero
        var placed: [(target: String, record: DeploymentRecord, driver: any TargetDriver, spec: DeploymentSpec)] = []
        for move in wave {
            guard let record = try r.store.deployment(rollout.deployment, target: move.target) else { return "\(move.target): its record is gone" }
            placed.append((move.target, record, try r.driver(move.target, desired.manifests), entry.spec.placed(on: move.target)))
        }
        let readsTraffic = analysis?.readsTraffic == true
        let minRequests = analysis?.minRequests ?? 10
        let longest = analysis?.maxDuration?.duration ?? max(pause * 10, .seconds(60))
        var baselines: [String: Counts] = [:]
        if readsTraffic {
            for p in placed { baselines[p.target] = await Self.counts(p.driver, p.record) ?? Counts() }
        }
        let started = ContinuousClock.now
        while pause > .zero {
            try await Task.sleep(for: min(RolloutExecutor.readBackGap * 2, pause))
            let elapsed = ContinuousClock.now - started
            var short: (target: String, requests: Int)?
            for p in placed {
                let seen = await p.driver.observe(p.record, spec: p.spec)
                if !(seen.serving && seen.forwarding && seen.healthy != false) {
                    return "\(p.target): \(seen.detail) during the \(strategy!.pause!) pause"
                }
                guard readsTraffic, let analysis else { continue }
                let now = await Self.counts(p.driver, p.record) ?? Counts()
                let base = baselines[p.target] ?? Counts()
                let window = Counts(requests: now.requests - base.requests, failures: now.failures - base.failures, p99: now.p99)
                if window.requests >= minRequests, let verdict = Self.verdict(window, analysis) {
                    return "\(p.target): \(verdict)"
                }
                if window.requests < minRequests, short == nil { short = (p.target, window.requests) }
            }
            guard elapsed >= pause else { continue }
            guard let short else { break }
            if elapsed >= longest {
                return
                    "\(short.target): only \(short.requests) requests reached v\(rollout.version) in \(TimeSpan(seconds: longest.seconds)); analysis needs \(minRequests)"
            }
        }
        if let metrics = analysis?.metrics {
            for p in placed {
                guard let splitting = p.driver as? any TrafficSplitting else { return "\(p.target): its metrics cannot be read" }
                do { try await AnalysisGates.check(metrics, p.record, splitting) } catch { return "\(p.target): \(error)" }
            }
        }
        if let command = analysis?.command {
            // The wave's targets are evaluated at the same time.
            let limit = max(pause, .seconds(60))
            let failures = await withTaskGroup(of: String?.self) { group in
                for p in placed {
                    group.addTask {
                        do {
                            try await AnalysisGates.evaluate(
                                command, on: p.record, values: ["percent": "100", "target": p.target, "wave": String(number)], limit: limit, r,
                                desired)
                            return nil
                        } catch {
                            return "\(p.target): \(error)"
                        }
                    }
                }
                return await group.compactMap { $0 }.reduce(into: [String]()) { $0.append($1) }
            }
            if !failures.isEmpty { return failures.sorted().joined(separator: "; ") }
        }
        return nil
    }

    /// The new version's counts at the forwarder of `record`'s target: the
    /// backends of its version. Nil where the target has no forwarder to read.
    static func counts(_ driver: any TargetDriver, _ record: DeploymentRecord) async -> Counts? {
        guard let splitting = driver as? any TrafficSplitting, let shares = await splitting.traffic(record) else { return nil }
        let mine = shares.filter { $0.version == record.version }
        return Counts(
            requests: mine.reduce(0) { $0 + $1.requests }, failures: mine.reduce(0) { $0 + $1.failures },
            p99: mine.compactMap(\.p99).max())
    }

    /// Why `window` fails `analysis`, or nil when it passes.
    static func verdict(_ window: Counts, _ analysis: Analysis) -> String? {
        if let limit = analysis.maxErrorRate, window.requests > 0 {
            let rate = Double(window.failures) / Double(window.requests)
            if rate > limit {
                return "error rate \(String(format: "%.3f", rate)) (\(window.failures) of \(window.requests) requests) is over \(limit)"
            }
        }
        if let limit = analysis.maxLatencyP99, let p99 = window.p99, p99 > limit.duration.seconds {
            return "p99 latency up to \(p99) s is over \(limit)"
        }
        return nil
    }
}
