import Foundation
import Manifests
import State
import Synchronization
import Targets

/// A target driver that runs nothing: it records each call, serves what it
/// was last asked to deploy, and fails or stops short on demand. With it,
/// the reconciler is tested without Python, processes or peers.
///
///     let fake = FakeDriver()
///     let reconciler = Reconciler(store: store, workspace: workspace, drivers: fake.factory)
///     fake.fail(.deploy, "node unreachable")
public final class FakeDriver: TargetDriver {
    /// What the reconciler asked of the driver, in order.
    public enum Call: Sendable, Equatable {
        /// `adopted`: what an earlier launch recorded, handed back.
        case train(model: String, adopted: String?)
        case deploy(deployment: String, version: Int)
        case stop(deployment: String)
        case recover(key: String)
        case retire(deployment: String, version: Int, replacedBy: Int)
    }

    public enum Operation: Sendable, Hashable { case train, deploy, stop }

    /// How a launch stops short, to stand for a controller killed during it.
    public enum Hang: Sendable, Equatable {
        /// After the journal recorded the launch, before the driver started it.
        case beforeStart
        /// After the driver started it and recorded what it started.
        case afterStart
    }

    struct State {
        var calls: [Call] = []
        var failures: [Operation: String] = [:]
        var hangs: [Operation: Hang] = [:]
        /// The target a deploy hang waits for (nil: the next deploy).
        var hangOn: String?
        var metrics: [String: Double] = ["accuracy": 0.9]
        var recovery: Recovery?
        /// What serves, by `deployment@target`: the version.
        var serving: [String: Int] = [:]
        /// Deploys that fail on one target only, by target.
        var targetFailures: [String: String] = [:]
        /// Targets that report what they serve as unhealthy, with the versions
        /// (nil: every version).
        var unhealthy: [String: Int?] = [:]
        /// Each deploy, in order: `target v<N>`.
        var moves: [String] = []
        var launches = 0
        /// Observations of each `target v<N>`.
        var observations: [String: Int] = [:]
        var onRetire: (@Sendable (DeploymentRecord) -> Void)?
    }

    private let state = Mutex(State())

    public init() {}

    /// A factory that hands this driver out for every target.
    public var factory: DriverFactory { { [self] _ in self } }

    public var calls: [Call] { state.withLock { $0.calls } }

    /// Each deploy the driver was asked for, in order: `node1 v2`.
    public var moves: [String] { state.withLock { $0.moves } }

    /// Makes every later deploy on `target` throw, the others not.
    public func fail(deployOn target: String, _ message: String) { state.withLock { $0.targetFailures[target] = message } }

    /// Makes `target` report `version` (nil: any version) unhealthy after it
    /// deployed it, as a server that starts but answers badly would.
    public func unhealthy(on target: String, version: Int? = nil) { state.withLock { $0.unhealthy[target] = .some(version) } }

    /// What serves `deployment` on `target` now.
    public func serving(_ deployment: String, on target: String) -> Int? { state.withLock { $0.serving["\(deployment)@\(target)"] } }

    /// Makes every later `operation` throw a `DriverError` with `message`.
    public func fail(_ operation: Operation, _ message: String) { state.withLock { $0.failures[operation] = message } }

    /// Makes the next `operation` wait until its task is cancelled, at `point`.
    public func hang(_ operation: Operation, _ point: Hang) { state.withLock { $0.hangs[operation] = point } }

    /// Makes the next deploy on `target` wait until its task is cancelled,
    /// at `point`; deploys on other targets go on.
    public func hang(deployOn target: String, _ point: Hang) {
        state.withLock {
            $0.hangs[.deploy] = point
            $0.hangOn = target
        }
    }

    /// Clears failures and hangs.
    public func heal() {
        state.withLock {
            $0.failures = [:]
            $0.hangs = [:]
            $0.targetFailures = [:]
            $0.unhealthy = [:]
        }
    }

    public func setMetrics(_ metrics: [String: Double]) { state.withLock { $0.metrics = metrics } }

    /// What `recover` answers; by default the protocol's (cleaned up).
    public func setRecovery(_ recovery: Recovery) { state.withLock { $0.recovery = recovery } }

    /// Runs `body` with the previous record when the reconciler retires it.
    public func onRetire(_ body: @escaping @Sendable (DeploymentRecord) -> Void) { state.withLock { $0.onRetire = body } }

    /// Takes what serves away, as a crashed server would.
    public func lose(_ deployment: String) {
        state.withLock { s in for key in s.serving.keys where key.hasPrefix("\(deployment)@") { s.serving[key] = nil } }
    }

    /// How often `version` on `target` was observed (read back) so far.
    public func observations(on target: String, version: Int) -> Int {
        state.withLock { $0.observations["\(target) v\(version)", default: 0] }
    }

    /// The calls so far of one kind.
    public func count(_ operation: Operation) -> Int {
        calls.filter { call in
            switch (call, operation) {
            case (.train, .train), (.deploy, .deploy), (.stop, .stop): return true
            default: return false
            }
        }.count
    }

    func begin(_ operation: Operation, _ call: Call, target: String? = nil) throws -> (hang: Hang?, launch: Int) {
        try state.withLock { s in
            s.calls.append(call)
            if let message = s.failures[operation] { throw DriverError(message) }
            s.launches += 1
            if operation == .deploy, let on = s.hangOn, on != target { return (nil, s.launches) }
            if operation == .deploy { s.hangOn = nil }
            return (s.hangs.removeValue(forKey: operation), s.launches)
        }
    }

    func wait(at point: Hang, _ hang: Hang?) async throws {
        guard hang == point else { return }
        while true { try await Task.sleep(for: .seconds(3600)) }
    }

    // MARK: - TargetDriver

    public func observe(_ record: DeploymentRecord, spec: DeploymentSpec?) async -> ObservedDeployment {
        let (version, sick) = state.withLock { s in
            s.observations["\(record.target) v\(record.version)", default: 0] += 1
            return (s.serving["\(record.name)@\(record.target)"], s.unhealthy[record.target].map { $0 == nil || $0 == record.version } ?? false)
        }
        let serving = version == record.version
        return ObservedDeployment(
            name: record.name, serving: serving, forwarding: serving, healthy: serving ? !sick : nil,
            detail: serving ? (sick ? "fake answers 500 for v\(record.version)" : "fake serves v\(record.version)") : "fake serves nothing")
    }

    public func train(_ request: TrainingRequest, launch: Launch) async throws -> TrainingOutcome {
        let (hang, number) = try begin(.train, .train(model: request.model.name, adopted: launch.adopted))
        try await wait(at: .beforeStart, hang)
        if launch.adopted == nil { try launch.started("{\"run\":\(number)}") }
        try await wait(at: .afterStart, hang)
        let metrics = state.withLock { $0.metrics }
        return TrainingOutcome(
            artifactPath: "/fake/\(request.model.name)/\(request.lineage.digest)",
            artifactDigest: "sha256:" + String(repeating: "0", count: 64), metrics: metrics, steps: ["train succeeded"])
    }

    public func deploy(_ request: DeployRequest, launch: Launch) async throws -> DeploymentRecord {
        let name = request.deployment.name
        let target = request.deployment.spec.targets.first?.target ?? "local"
        let (hang, number) = try begin(.deploy, .deploy(deployment: name, version: request.version.number), target: target)
        try state.withLock { s in
            s.moves.append("\(target) v\(request.version.number)")
            if let message = s.targetFailures[target] { throw DriverError(message) }
        }
        try await wait(at: .beforeStart, hang)
        try launch.started("{\"server\":\(number)}")
        try await wait(at: .afterStart, hang)
        state.withLock { $0.serving["\(name)@\(target)"] = request.version.number }
        return DeploymentRecord(
            name: name, model: request.version.model, version: request.version.number,
            target: target,
            address: request.deployment.spec.address ?? "fake", specDigest: request.specDigest,
            commit: request.revision.commit.id.hex, updatedAt: Date(), detail: "{\"server\":\(number)}")
    }

    public func stop(_ record: DeploymentRecord) async throws {
        _ = try begin(.stop, .stop(deployment: record.name))
        _ = state.withLock { $0.serving.removeValue(forKey: "\(record.name)@\(record.target)") }
    }

    public func retire(_ previous: DeploymentRecord, replacedBy record: DeploymentRecord) async {
        let hook = state.withLock { s in
            s.calls.append(.retire(deployment: previous.name, version: previous.version, replacedBy: record.version))
            return s.onRetire
        }
        hook?(previous)
    }

    public func recover(_ launch: OpenLaunch) async -> Recovery {
        let answer = state.withLock { s in
            s.calls.append(.recover(key: launch.key))
            return s.recovery
        }
        return answer ?? .cleanedUp("fake cleaned up \(launch.key)")
    }
}

/// A launch whose recorded detail a test reads back, for a driver called
/// without a reconciler.
///
///     let recorder = LaunchRecorder("train:demo")
///     _ = try await driver.train(request, launch: recorder.launch)
///     #expect(recorder.detail?.contains(job) == true)
public final class LaunchRecorder: Sendable {
    public let key: String
    private let recorded = Mutex<String?>(nil)

    public init(_ key: String) { self.key = key }

    public var launch: Launch { Launch(key: key, adopted: nil) { [self] detail in record(detail) } }

    func record(_ detail: String) { recorded.withLock { $0 = detail } }

    /// What the driver last recorded with `Launch.started`.
    public var detail: String? { recorded.withLock { $0 } }
}
