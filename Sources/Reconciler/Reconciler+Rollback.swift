import Foundation
import Manifests
import Source
import State

/// A rollback asked for by a person (the API or the CLI): the Deployment's
/// pin goes back to an earlier version as a commit, so Git stays the truth
/// and the next reconcile deploys it like any other pin change.
///
///     let result = try reconciler.rollback(deployment: "churn-prod", to: nil, actor: "alice", reason: "bad latency")
///     result.applied  // true when the commit landed on the tracked branch
public struct RollbackResult: Codable, Sendable {
    public var deployment: String
    public var model: String
    public var fromVersion: Int
    public var toVersion: Int
    /// The write-back commit; nil when the pin already said `toVersion`.
    public var commit: String?
    public var branch: String?
    /// Whether the commit is on the tracked branch (and so takes effect);
    /// false when it went to a branch for review.
    public var applied: Bool
    public var outcome: String
}

public struct RollbackError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable { case notFound, conflict, unavailable }
    public var reason: Reason
    public var description: String
}

extension Reconciler {
    /// Pins `deployment` to `version` (or to the newest version older than
    /// the one pinned now) by committing the change to the followed branch.
    /// The attempt and its outcome are recorded in the audit log under `actor`.
    /// `onlyFrom`: leave Git alone unless it still pins that version (an
    /// automatic rollback must not undo a newer pin). `review`: write to a
    /// `gantry/rollback-<deployment>` branch instead of the followed one.
    public func rollback(
        deployment name: String, to version: Int?, actor: String, reason: String, onlyFrom: Int? = nil, review: Bool = false
    ) throws -> RollbackResult {
        guard let source = writeBack else {
            throw RollbackError(reason: .unavailable, description: "no repository to write the pin change to")
        }
        var result: RollbackResult?
        let message = { (model: String, from: Int, to: Int) in
            "gantry: roll back \(name) to \(model)@v\(to) (from v\(from))\n\nRequested by \(actor)" + (reason.isEmpty ? "" : ": \(reason)") + "\n"
        }
        do {
            var planned: (model: String, from: Int, to: Int)?
            let branch = "gantry/rollback-\(name)"
            let written = try source.writeBack(author: author, destination: review ? .branch(branch) : .trackedBranch(fallback: branch)) { tip in
                guard let entry = tip.manifests.deployments[name] else {
                    throw RollbackError(reason: .notFound, description: "no Deployment \(name) in \(tip.commit.id.short)")
                }
                let spec = entry.spec
                let versions = try store.versions(of: spec.model).map(\.number)
                let target = version ?? versions.filter { $0 < spec.version }.max()
                guard let target, versions.contains(target) else {
                    throw RollbackError(
                        reason: .conflict,
                        description: version.map { "\(spec.model)@v\($0) does not exist" }
                            ?? "\(spec.model) has no version older than v\(spec.version) to roll back to")
                }
                planned = (spec.model, spec.version, target)
                if target == spec.version || (onlyFrom != nil && onlyFrom != spec.version) { return nil }
                let bytes = try tip.file(entry.origin.file) ?? []
                return (
                    message(spec.model, spec.version, target),
                    [entry.origin.file: try PinEditor.setVersion(target, deployment: name, in: bytes, file: entry.origin.file)]
                )
            }
            guard let planned else { throw RollbackError(reason: .notFound, description: "no Deployment \(name)") }
            let tracked = source.ref ?? (source.isRemote ? "main" : "HEAD")
            if let written {
                let applied = written.branch == tracked
                let outcome =
                    applied
                    ? "committed \(written.commit.short) to \(written.branch)"
                    : "\(source.isRemote ? "pushed" : "created") branch \(written.branch) (\(written.commit.short)) for review"
                        + (written.note.map { "; \($0)" } ?? "")
                result = RollbackResult(
                    deployment: name, model: planned.model, fromVersion: planned.from, toVersion: planned.to,
                    commit: written.commit.hex, branch: written.branch, applied: applied, outcome: outcome)
            } else {
                result = RollbackResult(
                    deployment: name, model: planned.model, fromVersion: planned.from, toVersion: planned.to,
                    commit: nil, branch: nil, applied: planned.from == planned.to,
                    outcome: planned.from == planned.to ? "already pinned to v\(planned.to)" : "Git pins v\(planned.from) now; left alone")
            }
        } catch {
            try store.audit(
                AuditRecord(
                    time: Date(), reconcileId: nil, actor: actor, action: "rollback", object: "Deployment/\(name)",
                    detail: reason, result: "failed: \(error)"))
            throw error
        }
        let r = result!
        // A person's rollback (an automatic one holds the failed version
        // instead): automatic promotion must not undo it.
        if actor != "gantry", r.commit != nil {
            try store.save(ManualPin(deployment: name, version: r.toVersion, actor: actor, reason: reason, createdAt: Date()))
        }
        try store.audit(
            AuditRecord(
                time: Date(), reconcileId: nil, actor: actor, action: "rollback", object: "Deployment/\(name)",
                detail: "v\(r.fromVersion) -> v\(r.toVersion)" + (reason.isEmpty ? "" : ": \(reason)"),
                result: "succeeded: \(r.outcome)"))
        log("rollback of \(name) by \(actor): \(r.outcome)")
        return r
    }
}
