import Synchronization

/// Healthy verdicts of serving processes, kept for a probe period.
///
/// A controller plans on every interval and every push, and observing a
/// Deployment probes its health over HTTP; with thousands of Deployments,
/// probing each one on every plan makes a plan with nothing to do take
/// seconds. A healthy answer is therefore trusted for the Deployment's
/// `healthCheck.interval` (``defaultPeriod`` when unset), as a load
/// balancer's health check trusts its last probe. Whether the process runs
/// is still checked on every plan, and a verdict belongs to one serving
/// process (its pid, start time and port) and health path, so a rollout or a
/// restart is probed afresh. Unhealthy answers are not kept: a failing
/// Deployment is probed on every plan until it recovers.
final class HealthVerdicts: Sendable {
    static let shared = HealthVerdicts()
    static let defaultPeriod: Duration = .seconds(30)

    struct Key: Hashable {
        var deployment: String
        var pid: Int32
        var startTime: UInt64
        var port: Int
        var path: String
    }

    private struct Verdict {
        var at: ContinuousClock.Instant
        var detail: String
    }

    private let verdicts = Mutex<[Key: Verdict]>([:])

    /// The detail of a healthy answer `key` got within `period`, or nil.
    func healthy(_ key: Key, within period: Duration, now: ContinuousClock.Instant = .now) -> String? {
        verdicts.withLock { v in
            guard let verdict = v[key], now - verdict.at < period else { return nil }
            return verdict.detail
        }
    }

    /// Keeps a healthy answer, or forgets the last one when the answer was
    /// not healthy. Verdicts of processes that are gone are dropped as the
    /// table grows.
    func record(_ key: Key, healthy: Bool, detail: String, now: ContinuousClock.Instant = .now) {
        verdicts.withLock { v in
            guard healthy else {
                v[key] = nil
                return
            }
            v[key] = Verdict(at: now, detail: detail)
            if v.count > 1024, v.count.isMultiple(of: 1024) {
                v = v.filter { now - $0.value.at < .seconds(600) }
            }
        }
    }
}
