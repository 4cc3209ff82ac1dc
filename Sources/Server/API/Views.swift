import Controller
import Foundation
import Lineage
import Planner
import Reconciler
import State
import Targets

/// Sync as the API and the dashboard show it, from the pending plan:
/// `Synced`, `OutOfSync` (an action is pending), `Suspended`, `Warning`
/// (blocked without an action), or `Unknown` (no valid plan yet).
public struct SyncState: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case synced = "Synced", outOfSync = "OutOfSync", suspended = "Suspended", warning = "Warning", unknown = "Unknown"
    }

    public var status: Status
    public var detail: String

    static func of(_ object: String, in plan: Plan?) -> SyncState {
        guard let plan else { return SyncState(status: .unknown, detail: "no plan yet") }
        guard plan.isValid else { return SyncState(status: .unknown, detail: "the latest revision is invalid; the last good one keeps running") }
        let actions = plan.actions.filter { $0.object == object }
        if !actions.isEmpty { return SyncState(status: .outOfSync, detail: actions.map(\.summary).joined(separator: "; ")) }
        if let note = plan.blocked.first(where: { $0.object == object }) {
            if case .suspended = note.state { return SyncState(status: .suspended, detail: note.detail) }
            return SyncState(status: .warning, detail: note.detail)
        }
        if let note = plan.synced.first(where: { $0.object == object }) {
            return SyncState(status: .synced, detail: note.detail)
        }
        return SyncState(status: .unknown, detail: "")
    }
}

/// Health of what serves: `Healthy`, `Degraded` (the check fails),
/// `Missing` (nothing serves), `Unknown` (not observed yet).
public struct HealthState: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case healthy = "Healthy", degraded = "Degraded", missing = "Missing", unknown = "Unknown"
    }

    public var status: Status
    public var detail: String

    static func of(_ observed: ObservedDeployment?, deployed: Bool) -> HealthState {
        guard deployed else { return HealthState(status: .missing, detail: "not deployed") }
        guard let observed else { return HealthState(status: .unknown, detail: "not observed yet") }
        if !observed.serving { return HealthState(status: .missing, detail: observed.detail) }
        if observed.healthy == true && observed.forwarding { return HealthState(status: .healthy, detail: observed.detail) }
        return HealthState(status: .degraded, detail: observed.forwarding ? observed.detail : "stable address not forwarded")
    }

    /// A Deployment's health over its targets: the worst one's.
    static func worst(_ targets: [(target: String, health: HealthState)]) -> HealthState {
        let rank: [Status: Int] = [.healthy: 0, .unknown: 1, .degraded: 2, .missing: 3]
        guard let worst = targets.max(by: { rank[$0.health.status]! < rank[$1.health.status]! }) else {
            return HealthState(status: .missing, detail: "not deployed")
        }
        if targets.count == 1 || worst.health.status == .healthy { return worst.health }
        return HealthState(status: worst.health.status, detail: "\(worst.target): \(worst.health.detail)")
    }
}

struct StatusView: Encodable, Sendable {
    var source: String
    var startedAt: Date
    var ready: Bool
    var stopping: Bool
    var loops: Int
    var revision: Plan.Revision?
    var revisionValid: Bool?
    var lastFetchAt: Date?
    var assessedAt: Date?
    var lastResult: String?
    var lastError: String?
    /// `ok`, `degraded` (reconcile loops fail; what serves keeps serving) or `stopping`.
    var health: String
    var degradedSince: Date?
    var pendingActions: Int
    var lastWakeup: ControllerStatus.WakeupRecord?
}

struct ObjectView: Codable, Sendable {
    var kind: String
    var name: String
    var sync: SyncState
    var health: HealthState?
    var suspended: SuspensionRecord?
}

struct VersionView: Codable, Sendable {
    var model: String
    var number: Int
    var digest: String
    var commit: String
    var createdAt: Date
    var metrics: [String: Double]
    var gatesPassed: Bool
    var gateReport: String
    var promotion: String
    var artifactDigest: String
    /// Deployments serving this version now.
    var servedBy: [String]

    init(_ v: VersionRecord, servedBy: [String]) {
        model = v.model
        number = v.number
        digest = v.digest
        commit = v.commit
        createdAt = v.createdAt
        metrics = v.metricValues
        gatesPassed = v.gatesPassed
        gateReport = v.gateReport
        promotion = v.promotion
        artifactDigest = v.artifactDigest
        self.servedBy = servedBy
    }
}

struct ModelView: Codable, Sendable {
    var name: String
    var sync: SyncState
    var suspended: SuspensionRecord?
    var latestVersion: Int?
    var versions: [VersionView]
}

struct LineageView: Codable, Sendable {
    var version: VersionView
    var lineage: Lineage?
    var parent: Int?
    /// What changed since the parent version, in the plan's words.
    var changesSinceParent: [String]
    /// The files (and CSV/TSV rows) that differ from the parent's data,
    /// from the snapshots; nil when a side has none.
    var dataChanges: [SnapshotDiff.FileChange]?
}

struct DeploymentView: Codable, Sendable {
    var name: String
    var model: String
    /// The version Git pins; nil for a Deployment Git no longer declares.
    var pinnedVersion: Int?
    /// The version that serves now; nil when nothing does.
    var servedVersion: Int?
    /// The first target (`targets` has each).
    var target: String
    var address: String?
    /// "Synced" means every target serves the pinned version as Git says.
    var sync: SyncState
    /// The worst of the targets' health.
    var health: HealthState
    var drifted: Bool
    var drift: [DriftField]
    var suspended: SuspensionRecord?
    /// Each target: what it serves and how it is.
    var targets: [DeploymentTargetView]
}

/// One target of a Deployment.
struct DeploymentTargetView: Codable, Sendable {
    var target: String
    /// nil when nothing serves there.
    var servedVersion: Int?
    var address: String?
    var health: HealthState
    var drifted: Bool
}

struct HistoryView: Codable, Sendable {
    var reconciles: [ReconcileRecord]
}

struct AuditView: Codable, Sendable {
    var entries: [AuditRecord]
}

struct PlanView: Encodable, Sendable {
    var assessedAt: Date?
    var plan: Plan?
    var text: String?
}

struct ActionResult: Codable, Sendable {
    var accepted: Bool
    var message: String
    var rollback: RollbackResult?
    /// For a change that awaits review on a branch: the forge's page to
    /// review it (nil when the repository has no known web page).
    var review: String?
}
