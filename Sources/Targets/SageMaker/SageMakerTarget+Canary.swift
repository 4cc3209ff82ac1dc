import Foundation
import Lineage
import Manifests
import StableAddress
import State

/// A canary on a SageMaker endpoint, by production-variant weights: the
/// endpoint moves to a config of two variants, `stable` (the model that
/// serves) and `canary` (the new one, weight 0); each step sets the
/// weights (UpdateEndpointWeightsAndCapacities) and waits until the
/// endpoint reports them; at 100% the endpoint moves to the new version's
/// own one-variant config, as a plain deploy would have left it. SageMaker
/// counts no requests Gantry can read here, so a canary on this target is
/// judged by health and by an evaluation command (validation refuses an
/// error rate or a latency).
extension SageMakerTarget: TrafficSplitting {
    static let stableVariant = "stable"
    static let canaryVariant = "canary"

    /// What a canary's launch records, for recovery after a crash.
    struct CanaryLaunch: Codable {
        var endpoint: String
        var split: String
        var stableConfig: String
        var stableModel: String
        var canaryConfig: String
        var version: Int
    }

    public func startCanary(_ request: DeployRequest, launch: Launch) async throws -> DeploymentRecord {
        guard let current = request.current, let stable = Self.handles(current) else {
            throw DriverError("a canary on \(name) needs the endpoint's current version to split with")
        }
        var pair = try await makePair(request)
        let endpoint = pair.handles.endpoint
        let split = SageMakerNames.modelAndConfig(
            deployment: request.deployment.name, version: request.version.number,
            inputs: "split\n\(stable.endpointConfig)\n\(pair.handles.endpointConfig)")
        pair.handles.split = split
        try launch.started(
            Digest.canonicalJSON(
                CanaryLaunch(
                    endpoint: endpoint, split: split, stableConfig: stable.endpointConfig, stableModel: stable.model,
                    canaryConfig: pair.handles.endpointConfig, version: request.version.number)))
        do {
            try await create(
                "CreateEndpointConfig",
                CreateEndpointConfig(
                    EndpointConfigName: split,
                    ProductionVariants: [
                        .init(
                            VariantName: Self.stableVariant, ModelName: stable.model, InstanceType: pair.instanceType,
                            InitialInstanceCount: pair.replicas, InitialVariantWeight: 1),
                        .init(
                            VariantName: Self.canaryVariant, ModelName: pair.handles.model, InstanceType: pair.instanceType,
                            InitialInstanceCount: pair.replicas, InitialVariantWeight: 0),
                    ]))
            try await move(endpoint, to: split, timeout: pair.timeout, deadline: pair.deadline)
        } catch {
            await discard(split, unlessUsedBy: endpoint, keeping: stable, withModel: false)
            await discard(pair.handles.endpointConfig, unlessUsedBy: endpoint, keeping: stable)
            throw error
        }
        return record(request, pair.handles, address: current.address)
    }

    public func split(_ canary: DeploymentRecord, stable: DeploymentRecord, percent: Int) async throws {
        guard let handles = Self.handles(canary), let split = handles.split else {
            throw DriverError("the record of v\(canary.version) of \(canary.name) names no split endpoint config")
        }
        let weights = [Self.stableVariant: Double(100 - percent), Self.canaryVariant: Double(percent)]
        try await api.perform(
            "UpdateEndpointWeightsAndCapacities",
            UpdateEndpointWeights(
                EndpointName: handles.endpoint,
                DesiredWeightsAndCapacities: weights.sorted { $0.key > $1.key }.map { .init(VariantName: $0.key, DesiredWeight: $0.value) }),
            idempotent: true)
        // Read back: the step starts when SageMaker reports the weights.
        let deadline = ContinuousClock.now + .seconds(Int64(Self.defaultServingTimeout.seconds))
        var polls = 0
        while true {
            let seen = try await describeEndpoint(handles.endpoint)
            if let seen, seen.EndpointStatus == "InService", seen.EndpointConfigName == split,
                let share = seen.shares?[Self.canaryVariant], abs(share - Double(percent)) < 0.5
            {
                return
            }
            if let seen, ["Failed", "OutOfService", "UpdateRollbackFailed"].contains(seen.EndpointStatus) || seen.EndpointConfigName != split {
                throw DriverError(
                    "endpoint \(handles.endpoint) is \(seen.EndpointStatus) with \(seen.EndpointConfigName ?? "no config") while its weights were set\(seen.FailureReason.map { ": \($0)" } ?? "")"
                )
            }
            guard ContinuousClock.now < deadline else {
                throw DriverError(
                    "endpoint \(handles.endpoint) did not report \(percent)% to variant \(Self.canaryVariant) within \(Self.defaultServingTimeout)")
            }
            try await pause(polls, until: deadline)
            polls += 1
        }
    }

    /// SageMaker's own request counts live in CloudWatch, which Gantry does
    /// not read: none.
    public func readings(_ canary: DeploymentRecord) async -> BackendStats? { nil }

    public func observe(canary: DeploymentRecord, spec: DeploymentSpec?) async -> ObservedDeployment {
        guard let handles = Self.handles(canary), let split = handles.split else {
            return ObservedDeployment(name: canary.name, serving: false, forwarding: false, healthy: nil, detail: "the record names no split config")
        }
        let seen: EndpointDescription?
        do { seen = try await describeEndpoint(handles.endpoint, through: observing) } catch {
            return ObservedDeployment(name: canary.name, serving: false, forwarding: false, healthy: nil, detail: "\(error)")
        }
        guard let seen, seen.EndpointConfigName == split else {
            return ObservedDeployment(
                name: canary.name, serving: false, forwarding: false, healthy: nil,
                detail: "endpoint \(handles.endpoint) no longer uses the split config \(split)")
        }
        let share = seen.shares?[Self.canaryVariant] ?? 0
        let healthy: Bool? =
            switch seen.EndpointStatus {
            case "InService": true
            case "Failed", "OutOfService", "UpdateRollbackFailed": false
            default: nil
            }
        return ObservedDeployment(
            name: canary.name, serving: healthy != false, forwarding: share > 0, healthy: healthy,
            detail: "endpoint \(handles.endpoint) is \(seen.EndpointStatus), \(String(format: "%.0f", share))% to v\(canary.version)"
                + (seen.FailureReason.map { ": \($0)" } ?? ""))
    }

    public func modelMetrics(_ canary: DeploymentRecord, path: String) async throws -> [String: Double] {
        throw DriverError("target \(name): a SageMaker model server's metrics are not reachable; judge it with analysis.command")
    }

    public func commit(_ canary: DeploymentRecord) async throws {
        guard let handles = Self.handles(canary) else { throw DriverError("the record of \(canary.name) names no SageMaker endpoint") }
        try await move(handles.endpoint, to: handles.endpointConfig)
    }

    /// The endpoint back on the stable config; the split config and the
    /// canary's model and config are deleted once it no longer uses them.
    public func abandon(_ canary: DeploymentRecord, stable: DeploymentRecord) async {
        guard let handles = Self.handles(canary), let old = Self.handles(stable) else { return }
        do {
            try await move(handles.endpoint, to: old.endpointConfig)
        } catch {
            return  // the next observation sees the endpoint off its record and repairs it
        }
        if let split = handles.split { await discard(split, unlessUsedBy: handles.endpoint, keeping: old, withModel: false) }
        await discard(handles.endpointConfig, unlessUsedBy: handles.endpoint, keeping: old)
    }

    public func finish(_ canary: DeploymentRecord, replacing stable: DeploymentRecord) async {
        if let handles = Self.handles(canary), let split = handles.split {
            try? await delete("DeleteEndpointConfig", .endpointConfig(split))
        }
        await retire(stable, replacedBy: canary)
    }

    /// Each variant's weight, from what the endpoint reports; SageMaker's
    /// request counts are not read (zero).
    public func traffic(_ record: DeploymentRecord) async -> [TrafficShare]? {
        guard let handles = Self.handles(record),
            let seen = try? await describeEndpoint(handles.endpoint, through: observing), let shares = seen.shares
        else { return nil }
        let split = seen.EndpointConfigName != handles.endpointConfig
        return shares.sorted { $0.key < $1.key }.map { variant, percent in
            TrafficShare(
                backend: "\(handles.endpoint)/\(variant)", percent: percent,
                version: !split || variant == Self.stableVariant ? record.version : nil, stats: BackendStats())
        }
    }

    /// A canary a stopped controller left: when the record names its
    /// version, it took every request, and what is left is the split config
    /// and the old pair; otherwise the endpoint goes back to the stable
    /// config and the canary's config and model are deleted.
    public func recover(_ launch: OpenLaunch) async -> Recovery {
        guard launch.kind == .deploy, let canary = try? JSONDecoder().decode(CanaryLaunch.self, from: Data(launch.detail.utf8)) else {
            return .cleanedUp("closed an interrupted \(launch.kind == .train ? "training" : "rollout") of \(launch.object)")
        }
        let stable = Handles(endpoint: canary.endpoint, endpointConfig: canary.stableConfig, model: canary.stableModel, modelData: "")
        if launch.current?.version == canary.version {
            try? await delete("DeleteEndpointConfig", .endpointConfig(canary.split))
            await discard(canary.stableConfig, unlessUsedBy: canary.endpoint, keeping: nil)
            return .cleanedUp("finished the canary of \(launch.object) on \(name)")
        }
        let timeout = Self.defaultServingTimeout
        do {
            let seen = try await describeEndpoint(canary.endpoint)
            if seen?.EndpointConfigName == canary.split {
                try await point(canary.endpoint, at: canary.stableConfig, deadline: .now + .seconds(Int64(timeout.seconds)), timeout: timeout)
                return .stillRunning  // until the endpoint is back in service
            }
            if let status = seen?.EndpointStatus, Self.settling.contains(status) { return .stillRunning }
        } catch {
            return .stillRunning
        }
        await discard(canary.split, unlessUsedBy: canary.endpoint, keeping: stable, withModel: false)
        await discard(canary.canaryConfig, unlessUsedBy: canary.endpoint, keeping: stable)
        return .cleanedUp("put \(canary.endpoint) back on \(canary.stableConfig) after an interrupted canary on \(name)")
    }
}
