import Foundation
import Hummingbird
import Reconciler

/// `GET /api/v1/…`: everything a viewer may read; the audit log needs admin.
extension GantryServer {
    func addReadRoutes(_ router: Router<APIContext>) {
        let api = router.group("api/v1")
        api.get("status") { _, context in
            try context.require(.viewer)
            return JSON(statusView())
        }
        api.get("objects") { _, context in
            try context.require(.viewer)
            return JSON(try objectViews())
        }
        api.get("models") { _, context in
            try context.require(.viewer)
            return JSON(try modelViews())
        }
        api.get("models/:name") { _, context in
            try context.require(.viewer)
            let name = try context.parameters.require("name")
            guard let model = try modelViews().first(where: { $0.name == name }) else { throw APIError(.notFound, "no Model \(name)") }
            return JSON(model)
        }
        api.get("models/:name/versions") { _, context in
            try context.require(.viewer)
            let name = try context.parameters.require("name")
            guard let model = try modelViews().first(where: { $0.name == name }) else { throw APIError(.notFound, "no Model \(name)") }
            return JSON(model.versions)
        }
        api.get("models/:name/versions/:version/lineage") { _, context in
            try context.require(.viewer)
            let name = try context.parameters.require("name")
            let number = try context.parameters.require("version", as: Int.self)
            guard let view = try lineageView(model: name, number: number) else { throw APIError(.notFound, "no version \(name)@v\(number)") }
            return JSON(view)
        }
        api.get("deployments") { _, context in
            try context.require(.viewer)
            return JSON(try deploymentViews())
        }
        api.get("deployments/:name") { _, context in
            try context.require(.viewer)
            let name = try context.parameters.require("name")
            guard let view = try deploymentViews().first(where: { $0.name == name }) else { throw APIError(.notFound, "no Deployment \(name)") }
            return JSON(view)
        }
        api.get("rollouts") { _, context in
            try context.require(.viewer)
            return JSON(reconciler.canaries.all)
        }
        api.get("drift") { _, context in
            try context.require(.viewer)
            return JSON(try deploymentViews().filter(\.drifted))
        }
        api.get("plan") { _, context in
            try context.require(.viewer)
            return JSON(planView())
        }
        api.get("state") { _, context in
            try context.require(.viewer)
            guard let assessment = status.snapshot.assessment else {
                throw APIError(.serviceUnavailable, "the controller has not observed its targets yet")
            }
            return JSON(try StateSnapshot(store: store, observed: assessment.observed, commit: assessment.desired.revision.commit.id.hex))
        }
        api.get("models/:name/logs") { request, context in
            try context.require(.viewer)
            let name = try context.parameters.require("name")
            let version = request.uri.queryParameters.get("version").flatMap { Int($0) }
            guard let run = try TrainingViews.run(name, version: version, store: store, workspace: reconciler.workspace) else {
                throw APIError(.notFound, "no run of \(name)\(version.map { "@v\($0)" } ?? "") on the controller's machine")
            }
            return JSON(run)
        }
        api.get("trainings") { _, context in
            try context.require(.viewer)
            return JSON(try TrainingViews.inProgress(store, workspace: reconciler.workspace))
        }
        api.get("history") { request, context in
            try context.require(.viewer)
            let limit = min(request.uri.queryParameters.get("limit", as: Int.self) ?? 20, 500)
            return JSON(HistoryView(reconciles: try store.reconciles(limit: limit)))
        }
        api.get("audit") { request, context in
            try context.require(.admin)
            let limit = min(request.uri.queryParameters.get("limit", as: Int.self) ?? 100, 1000)
            return JSON(AuditView(entries: try store.auditLog(limit: limit)))
        }
    }
}
