import Controller
import Foundation
import GantryTestSupport
import HTTP
import Server
import Testing

/// Pushes from each forge, signed correctly and forged.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct WebhookTests {
    static func payload(_ provider: WebhookProvider, url: String, ref: String = "refs/heads/main") -> String {
        switch provider {
        case .gitlab:
            return
                #"{"object_kind": "push", "ref": "\#(ref)", "checkout_sha": "abc123", "project": {"git_http_url": "\#(url)", "web_url": "https://gitlab.example/org/models"}}"#
        case .generic:
            return #"{"repository": "\#(url)", "ref": "\#(ref)", "after": "abc123"}"#
        case .github, .gitea:
            return #"{"ref": "\#(ref)", "after": "abc123", "repository": {"clone_url": "\#(url)", "ssh_url": "git@example.com:org/models.git"}}"#
        }
    }

    /// The headers a forge sends, signed with `secret`.
    static func headers(_ provider: WebhookProvider, body: String, secret: String) -> [(name: String, value: String)] {
        let signature = WebhookProvider.signature(body: Array(body.utf8), secret: secret)
        switch provider {
        case .github: return [("X-GitHub-Event", "push"), ("X-Hub-Signature-256", "sha256=\(signature)")]
        case .gitlab: return [("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", secret)]
        case .gitea: return [("X-Gitea-Event", "push"), ("X-Gitea-Signature", signature)]
        case .generic: return [("X-Gantry-Signature", "sha256=\(signature)")]
        }
    }

    @Test func aSignedPushStartsAReconcileAtOnceAndAForgedOneTriggersNothing() async throws {
        let project = try await ServerProject(deployment: false)
        let controller = try await LiveController(project)
        defer { Task { await controller.stop() } }  // on a failure; the end of the test awaits it
        try await controller.waitForFirstReconcile()
        let status = controller.loop.status

        for provider in WebhookProvider.allCases {
            let body = Self.payload(provider, url: project.url)
            // Forged: signed with the wrong secret, then not signed at all.
            for headers in [Self.headers(provider, body: body, secret: "wrong-secret"), [("X-GitHub-Event", "push")]] {
                let requests = controller.loop.wakeup.requests
                let r = try await controller.send("POST", "/hooks/\(provider.rawValue)", body: body, headers: headers)
                #expect(r.status == 401, "\(provider) forged: \(r.text)")
                // The handler asks for a reconcile before it answers, so an
                // answer without one is final.
                #expect(controller.loop.wakeup.requests == requests, "a forged \(provider) push asked for a reconcile")
            }
            // Tampered: a correct signature over another body.
            let tampered = Self.headers(provider, body: Self.payload(provider, url: "https://evil.example/x.git"), secret: LiveController.webhookSecret)
            if provider != .gitlab {  // GitLab sends the secret itself, not a signature of the body
                #expect(try await controller.send("POST", "/hooks/\(provider.rawValue)", body: body, headers: tampered).status == 401)
            }

            // Another repository or branch is acknowledged and ignored.
            for other in [Self.payload(provider, url: "https://example.com/other/repo.git"), Self.payload(provider, url: project.url, ref: "refs/heads/dev")] {
                let requests = controller.loop.wakeup.requests
                let r = try await controller.send(
                    "POST", "/hooks/\(provider.rawValue)", body: other,
                    headers: Self.headers(provider, body: other, secret: LiveController.webhookSecret))
                #expect(r.status == 202 && r.text.contains(#""refresh":false"#), "\(provider): \(r.text)")
                #expect(controller.loop.wakeup.requests == requests, "\(provider): another repository or branch asked for a reconcile")
            }

            // Signed and matching: the loop, idle for an hour, starts now.
            let loops = status.snapshot.loops
            let requests = controller.loop.wakeup.requests
            let sent = ContinuousClock.now
            let r = try await controller.send(
                "POST", "/hooks/\(provider.rawValue)", body: body,
                headers: Self.headers(provider, body: body, secret: LiveController.webhookSecret))
            #expect(r.status == 202, "\(provider): \(r.text)")
            #expect(controller.loop.wakeup.requests == requests + 1, "asked for its reconcile before answering")
            try await eventually("the \(provider) push started a reconcile", timeout: .seconds(10)) {
                status.snapshot.loops > loops
            }
            let wakeup = try #require(status.snapshot.lastWakeup)
            #expect(wakeup.reason.hasPrefix("\(provider.rawValue) push to main"))
            print(
                String(
                    format: "webhook-to-reconcile latency (%@): %.1f ms from receipt to reconcile start; %.1f ms from sending to the loop finishing",
                    provider.rawValue, wakeup.latencySeconds * 1000, (ContinuousClock.now - sent).seconds * 1000))
        }
        let metrics = try await controller.get("/metrics").text
        #expect(metrics.contains(#"gantry_webhook_deliveries_total{provider="github",result="refused"} 3"#))
        #expect(metrics.contains(#"gantry_webhook_deliveries_total{provider="gitea",result="accepted"} 1"#))
        await controller.stop()
    }

    @Test func aPushPicksUpANewCommitWithoutWaitingForTheInterval() async throws {
        let project = try await ServerProject(deployment: false)
        let controller = try await LiveController(project)
        defer { Task { await controller.stop() } }  // on a failure; the end of the test awaits it
        try await controller.waitForFirstReconcile()
        try project.setQuality(from: "0.8", to: "0.9")
        try await project.push("Better quality")
        let body = Self.payload(.github, url: project.url)
        _ = try await controller.send(
            "POST", "/hooks/github", body: body,
            headers: Self.headers(.github, body: body, secret: LiveController.webhookSecret))
        try await eventually("v2 was trained", timeout: .seconds(30)) { try controller.store.versions(of: "demo").count == 2 }
        await controller.stop()
    }

    @Test func repositoryNamesMatchAcrossSpellings() {
        let source = GantryServer.FollowedSource(location: "git@GitHub.com:org/models.git", ref: "main")
        for url in ["https://github.com/org/models", "https://user@github.com/org/models.git", "ssh://git@github.com/org/models/"] {
            let body = Array(#"{"ref": "refs/heads/main", "repository": {"clone_url": "\#(url)"}}"#.utf8)
            #expect(GantryServer.pushMatches(body: body, source: source), "\(url)")
        }
        let other = Array(#"{"ref": "refs/heads/main", "repository": {"clone_url": "https://github.com/org/models-old"}}"#.utf8)
        #expect(!GantryServer.pushMatches(body: other, source: source))
    }
}
