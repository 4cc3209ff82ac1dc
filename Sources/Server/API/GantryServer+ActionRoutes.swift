import Controller
import Foundation
import Hummingbird
import Reconciler
import State

/// `POST /api/v1/…`: refresh, suspend, resume, roll back. Each needs an
/// operator token and lands in the audit log under the token's name; a
/// refused call changes nothing.
extension GantryServer {
    struct RollbackBody: Decodable {
        var version: Int?
        var reason: String?
    }

    struct ReasonBody: Decodable {
        var reason: String?
    }

    /// The request's JSON body, nil when there is none. A body that is not
    /// the JSON the call takes is refused (400) before anything changes:
    /// a malformed request never acts as if it had said nothing.
    func optionalBody<T: Decodable>(_ type: T.Type, of request: Request) async throws -> T? {
        let bytes = Array(buffer: try await request.body.collect(upTo: 64 << 10))
        guard bytes.contains(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) else { return nil }
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw APIError(.badRequest, "the body is not the JSON this call takes: \(Self.describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .typeMismatch(_, let c)?, .valueNotFound(_, let c)?, .dataCorrupted(let c)?:
            let path = c.codingPath.map(\.stringValue).joined(separator: ".")
            return (path.isEmpty ? "" : "\(path): ") + c.debugDescription
        case .keyNotFound(let key, _)?: return "missing \(key.stringValue)"
        default: return "\(error)"
        }
    }

    func addActionRoutes(_ router: Router<APIContext>) {
        let api = router.group("api/v1")
        api.post("refresh") { _, context in
            JSON(try refresh(by: try mutating(context)), status: .accepted)
        }
        for (kind, path) in [("Model", "models"), ("Deployment", "deployments")] {
            api.post("\(path)/:name/suspend") { request, context in
                let caller = try mutating(context)
                let reason = try await optionalBody(ReasonBody.self, of: request)?.reason ?? ""
                return JSON(try suspend(kind, try context.parameters.require("name"), by: caller, reason: reason))
            }
            api.post("\(path)/:name/resume") { _, context in
                JSON(try resume(kind, try context.parameters.require("name"), by: try mutating(context)))
            }
        }
        api.post("deployments/:name/rollback") { request, context in
            let caller = try mutating(context)
            let body = try await optionalBody(RollbackBody.self, of: request) ?? RollbackBody()
            let result = try await rollback(try context.parameters.require("name"), to: body.version, by: caller, reason: body.reason ?? "")
            return JSON(result, status: result.rollback?.applied == false ? .accepted : .ok)
        }
    }

    // The actions themselves, shared by the API and the dashboard's buttons.

    func refresh(by caller: TokenEntry) throws -> ActionResult {
        guard wakeup.request("refresh requested by \(caller.name)") else { throw APIError(.serviceUnavailable, "the controller is stopping") }
        try audit(caller, "refresh", object: status.snapshot.source, detail: "reconcile now", result: "succeeded")
        return ActionResult(accepted: true, message: "a reconcile starts now")
    }

    func suspend(_ kind: String, _ name: String, by caller: TokenEntry, reason: String) throws -> ActionResult {
        let object = try existing(kind, name)
        try store.suspend(SuspensionRecord(object: object, actor: caller.name, reason: reason, createdAt: Date()))
        try audit(caller, "suspend", object: object, detail: reason, result: "succeeded")
        wakeup.request("\(object) suspended by \(caller.name)")
        return ActionResult(accepted: true, message: "\(object) is suspended: Gantry leaves it as it is until it is resumed")
    }

    func resume(_ kind: String, _ name: String, by caller: TokenEntry) throws -> ActionResult {
        let object = try existing(kind, name)
        let was = try store.resume(object)
        try audit(caller, "resume", object: object, detail: was ? "" : "was not suspended", result: "succeeded")
        wakeup.request("\(object) resumed by \(caller.name)")
        return ActionResult(accepted: true, message: was ? "\(object) is reconciled again" : "\(object) was not suspended")
    }

    func rollback(_ name: String, to version: Int?, by caller: TokenEntry, reason: String) async throws -> ActionResult {
        let reconciler = self.reconciler
        let result: RollbackResult
        do {
            result = try await onOwnThread {
                try reconciler.rollback(deployment: name, to: version, actor: caller.name, reason: reason)
            }
        } catch let error as RollbackError {
            switch error.reason {
            case .notFound: throw APIError(.notFound, error.description)
            case .conflict: throw APIError(.conflict, error.description)
            case .unavailable: throw APIError(.serviceUnavailable, error.description)
            }
        } catch {
            throw APIError(.badGateway, "the pin change could not be written to Git: \(error)")
        }
        if result.applied {
            wakeup.request("rollback of \(name) by \(caller.name)")
            await notifier?.send(
                .init(
                    event: .rolledBack, object: "Deployment/\(name)",
                    message: "\(caller.name) pinned \(result.model)@v\(result.toVersion) (was v\(result.fromVersion)): \(result.outcome)",
                    source: status.snapshot.source, commit: result.commit ?? ""))
        }
        let message =
            result.applied
            ? "Git now pins \(result.model)@v\(result.toVersion); the controller deploys it now"
            : "the pin change awaits review on branch \(result.branch ?? "?"); nothing changes until it is merged"
        return ActionResult(
            accepted: true, message: message, rollback: result, review: result.applied ? nil : result.branch.flatMap(source.review))
    }

    /// The caller of a call that changes something: an operator, while the
    /// controller still takes work.
    func mutating(_ context: APIContext) throws -> TokenEntry {
        let caller = try context.require(.operator)
        if status.snapshot.stopping { throw APIError(.serviceUnavailable, "the controller is stopping") }
        return caller
    }

    /// `Kind/name` if Git declares the object or something of it runs.
    func existing(_ kind: String, _ name: String) throws -> String {
        let object = "\(kind)/\(name)"
        let manifests = status.snapshot.assessment?.desired.manifests
        let known: Bool
        if kind == "Model" {
            known = try manifests?.models[name] != nil || !store.versions(of: name).isEmpty
        } else {
            known = try manifests?.deployments[name] != nil || store.deployment(name) != nil
        }
        if !known { throw APIError(.notFound, "no \(object)") }
        return object
    }

    func audit(_ caller: TokenEntry, _ action: String, object: String, detail: String, result: String) throws {
        do {
            try store.audit(
                AuditRecord(
                    time: Date(), reconcileId: nil, actor: caller.name, action: action, object: object,
                    detail: detail.isEmpty ? "via the API" : "via the API: \(detail)", result: result))
        } catch {
            // A full or read-only state directory: say so, rather than a bare 500.
            throw APIError(.serviceUnavailable, "the audit log cannot be written (\(error)); the state directory must be writable again")
        }
    }
}
