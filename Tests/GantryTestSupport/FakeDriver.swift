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
        var metrics: [String: Double] = ["accuracy": 0.9]
        var recovery: Recovery?
        /// What serves, by deployment: the version.
        var serving: [String: Int] = [:]
        var launches = 0
        var onRetire: (@Sendable (DeploymentRecord) -> Void)?
    }

    private let state = Mutex(State())

    public init() {}

    /// A factory that hands this driver out for every target.
    public var factory: DriverFactory { { [self] _ in self } }

    public var calls: [Call] { state.withLock { $0.calls } }

    /// Makes every later `operation` throw a `DriverError` with `message`.
    public func fail(_ operation: Operation, _ message: String) { state.withLock { $0.failures[operation] = message } }

    /// Makes the next `operation` wait until its task is cancelled, at `point`.
    public func hang(_ operation: Operation, _ point: Hang) { state.withLock { $0.hangs[operation] = point } }

    /// Clears failures and hangs.
    public func heal() {
        state.withLock {
            $0.failures = [:]
            $0.hangs = [:]
        }
    }

    public func setMetrics(_ metrics: [String: Double]) { state.withLock { $0.metrics = metrics } }

    /// What `recover` answers; by default the protocol's (cleaned up).
    public func setRecovery(_ recovery: Recovery) { state.withLock { $0.recovery = recovery } }

    /// Runs `body` with the previous record when the reconciler retires it.
    public func onRetire(_ body: @escaping @Sendable (DeploymentRecord) -> Void) { state.withLock { $0.onRetire = body } }

    /// Takes what serves away, as a crashed server would.
    public func lose(_ deployment: String) { _ = state.withLock { $0.serving.removeValue(forKey: deployment) } }

    /// The calls so far of one kind.
    public func count(_ operation: Operation) -> Int {
        calls.filter { call in
            switch (call, operation) {
            case (.train, .train), (.deploy, .deploy), (.stop, .stop): return true
            default: return false
            }
        }.count
    }

    func begin(_ operation: Operation, _ call: Call) throws -> (hang: Hang?, launch: Int) {
        try state.withLock { s in
            s.calls.append(call)
            if let message = s.failures[operation] { throw DriverError(message) }
            s.launches += 1
            return (s.hangs.removeValue(forKey: operation), s.launches)
        }
    }

    func wait(at point: Hang, _ hang: Hang?) async throws {
        guard hang == point else { return }
        while true { try await Task.sleep(for: .seconds(3600)) }
    }

    // MARK: - TargetDriver

    public func observe(_ record: DeploymentRecord, spec: DeploymentSpec?) async -> ObservedDeployment {
        let version = state.withLock { $0.serving[record.name] }
        let serving = version == record.version
        return ObservedDeployment(
            name: record.name, serving: serving, forwarding: serving, healthy: serving ? true : nil,
            detail: serving ? "fake serves v\(record.version)" : "fake serves nothing")
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
        let (hang, number) = try begin(.deploy, .deploy(deployment: name, version: request.version.number))
        try await wait(at: .beforeStart, hang)
        try launch.started("{\"server\":\(number)}")
        try await wait(at: .afterStart, hang)
        state.withLock { $0.serving[name] = request.version.number }
        return DeploymentRecord(
            name: name, model: request.version.model, version: request.version.number,
            target: request.deployment.spec.targets.first?.target ?? "local",
            address: request.deployment.spec.address ?? "fake", specDigest: request.specDigest,
            commit: request.revision.commit.id.hex, updatedAt: Date(), detail: "{\"server\":\(number)}")
    }

    public func stop(_ record: DeploymentRecord) async throws {
        _ = try begin(.stop, .stop(deployment: record.name))
        _ = state.withLock { $0.serving.removeValue(forKey: record.name) }
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
