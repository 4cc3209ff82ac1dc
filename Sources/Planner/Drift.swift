import Foundation
import Manifests
import State
import Targets

/// A Deployment's live drift, field by field: what Git declares against what
/// runs. Shared by `gantry diff` and the HTTP API so both say the same.
///
///     let fields = Drift.fields(spec: entry.spec, record: record, observed: observation)
///     let drifted = fields.contains { !$0.inSync }
public struct DriftField: Codable, Sendable, Hashable {
    public var field: String
    public var desired: String
    public var observed: String
    public var inSync: Bool
}

public enum Drift {
    public static func fields(spec: DeploymentSpec, record: DeploymentRecord?, observed: ObservedDeployment?) -> [DriftField] {
        [
            DriftField(field: "model", desired: spec.model, observed: record?.model ?? "-", inSync: record?.model == spec.model),
            DriftField(
                field: "version", desired: "\(spec.version)", observed: record.map { "\($0.version)" } ?? "not deployed",
                inSync: record?.version == spec.version),
            DriftField(
                field: "address", desired: spec.address ?? "-", observed: record?.address ?? "-",
                // Remote targets have addresses of their own (a model URI, an endpoint name).
                inSync: record == nil || spec.address == nil || record?.address == spec.address),
            DriftField(
                field: "serve spec", desired: String(Planner.specDigest(spec).prefix(19)),
                observed: String((record?.specDigest ?? "-").prefix(19)), inSync: record?.specDigest == Planner.specDigest(spec)),
            DriftField(
                field: "process", desired: "running", observed: observed.map { $0.serving ? "running" : "not running" } ?? "-",
                inSync: observed?.serving == true),
            DriftField(
                field: "address forwarding", desired: "to the serving process",
                observed: observed.map { $0.forwarding ? "to the serving process" : "not forwarded" } ?? "-",
                inSync: observed?.forwarding == true),
            DriftField(
                field: "health", desired: "healthy", observed: observed.map { $0.healthy == true ? "healthy" : $0.detail } ?? "-",
                inSync: observed?.healthy == true),
        ]
    }
}

extension HoldRecord {
    /// Whether Git still asks for what failed: the same pinned version and
    /// serve spec. Otherwise the hold is over.
    public func holds(_ spec: DeploymentSpec, digest: String? = nil) -> Bool {
        version == spec.version && specDigest == (digest ?? Planner.specDigest(spec))
    }
}
