import Foundation
import Hummingbird
import Logging

/// `POST /hooks/{github,gitlab,gitea,generic}`: a push that proves it knows
/// the shared secret and names the followed repository and branch wakes the
/// reconcile loop at once. Anything forged is refused and triggers nothing.
extension GantryServer {
    struct WebhookAnswer: Codable, Sendable {
        var refresh: Bool
        var message: String
    }

    func addWebhookRoutes(_ router: Router<APIContext>) {
        for provider in WebhookProvider.allCases {
            router.post("hooks/\(provider.rawValue)") { request, context in
                let received = ContinuousClock.now
                guard let secret = webhookSecret else {
                    metrics.webhook(provider: provider.rawValue, result: "refused")
                    throw APIError(.serviceUnavailable, "webhooks are off: start the controller with --webhook-secret-env")
                }
                let body = Array(buffer: try await request.body.collect(upTo: 5 << 20))
                guard provider.verify(headers: request.headers, body: body, secret: secret) else {
                    metrics.webhook(provider: provider.rawValue, result: "refused")
                    context.logger.warning("webhook refused: bad or missing signature", metadata: ["provider": "\(provider.rawValue)"])
                    throw APIError(.unauthorized, "the signature does not match")
                }
                // A forge's push names the commit it announces, so the same
                // body twice is a replay; a generic push may carry no commit.
                let unique = provider != .generic || !(PushEvent(json: body)?.after.isEmpty ?? true)
                guard
                    deliveries.firstTime(
                        provider: provider.rawValue, id: provider.deliveryID(headers: request.headers), body: body,
                        bodyIsUnique: unique)
                else {
                    metrics.webhook(provider: provider.rawValue, result: "replayed")
                    context.logger.warning("webhook delivery seen before; ignored", metadata: ["provider": "\(provider.rawValue)"])
                    return JSON(WebhookAnswer(refresh: false, message: "this delivery was received before; it starts nothing again"))
                }
                let event = provider.event(headers: request.headers)
                guard provider.isPush(event) else {
                    metrics.webhook(provider: provider.rawValue, result: "ignored")
                    return JSON(WebhookAnswer(refresh: false, message: "\(event ?? "unnamed") event ignored; only pushes start a reconcile"))
                }
                guard let push = PushEvent(json: body) else {
                    metrics.webhook(provider: provider.rawValue, result: "refused")
                    throw APIError(.badRequest, "a push needs a repository URL and a ref")
                }
                guard push.matches(source) else {
                    metrics.webhook(provider: provider.rawValue, result: "ignored")
                    return JSON(
                        WebhookAnswer(refresh: false, message: "push to \(push.repositories.first ?? "?") \(push.ref) is not what this controller follows"),
                        status: .accepted)
                }
                let reason = "\(provider.rawValue) push to \(push.branch ?? push.ref)" + (push.after.isEmpty ? "" : " (\(push.after.prefix(12)))")
                guard wakeup.request(reason, at: received) else { throw APIError(.serviceUnavailable, "the controller is stopping") }
                metrics.webhook(provider: provider.rawValue, result: "accepted")
                context.logger.info("webhook accepted", metadata: ["provider": "\(provider.rawValue)", "ref": "\(push.ref)"])
                return JSON(WebhookAnswer(refresh: true, message: "fetching \(push.ref) now"), status: .accepted)
            }
        }
    }
}
