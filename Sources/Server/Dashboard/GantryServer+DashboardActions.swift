import Crypto
import Foundation
import Hummingbird
import Reconciler
import ServiceLifecycle
import State

/// The dashboard's buttons (refresh, suspend, resume, roll back) for an
/// operator, its live updates and its log view. A button is a form posted
/// to `/ui/…` with a CSRF token derived from the caller's credential; the
/// action is the API's own (same role, same audit entry), and the answer
/// is a redirect back to the overview with what happened.
extension GantryServer {
    func addDashboardActionRoutes(_ router: Router<APIContext>) {
        router.post("/ui/refresh") { request, context in
            try await act(request, context) { caller, _ in try refresh(by: caller) }
        }
        for (kind, path) in [("Model", "models"), ("Deployment", "deployments")] {
            router.post("/ui/\(path)/:name/suspend") { request, context in
                let name = try context.parameters.require("name")
                return try await act(request, context) { caller, form in try suspend(kind, name, by: caller, reason: form["reason"] ?? "") }
            }
            router.post("/ui/\(path)/:name/resume") { request, context in
                let name = try context.parameters.require("name")
                return try await act(request, context) { caller, _ in try resume(kind, name, by: caller) }
            }
        }
        router.post("/ui/deployments/:name/rollback") { request, context in
            let name = try context.parameters.require("name")
            return try await act(request, context) { caller, form in
                guard let version = form["version"].flatMap({ $0.isEmpty ? nil : $0 }).map({ Int($0) }) else {
                    return try await rollback(name, to: nil, by: caller, reason: form["reason"] ?? "")
                }
                guard let version else { throw APIError(.badRequest, "version is a number") }
                return try await rollback(name, to: version, by: caller, reason: form["reason"] ?? "")
            }
        }
        router.get("/ui/live.js") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "no-cache"],
                body: .init(byteBuffer: ByteBuffer(string: Self.liveScript)))
        }
        router.get("/ui/events") { request, context in
            _ = try context.require(.viewer)
            // `?once`: the stream's opening and nothing more, for probes.
            return events(once: request.uri.queryParameters.get("once") != nil)
        }
        router.get("/models/:name/log") { _, context in
            guard let caller = context.caller else { return loginPage(status: .unauthorized, error: nil) }
            let name = try context.parameters.require("name")
            guard try modelViews().contains(where: { $0.name == name }) else { throw APIError(.notFound, "no Model \(name)") }
            return HTML(text: Page.render(title: "\(name) log", caller: caller.name, body: logPage(name)))
        }
    }

    /// The CSRF token of the caller's forms: the same for one credential
    /// while this server runs, unguessable without it.
    func csrfToken(_ caller: TokenEntry) -> String {
        SHA256.hash(data: Data((csrfKey + ":" + caller.sha256).utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Runs a button's action for an operator whose form carries the right
    /// CSRF token, and sends the browser back to the overview with the
    /// outcome. A refusal changes nothing.
    func act(
        _ request: Request, _ context: APIContext, _ action: (TokenEntry, [String: String]) async throws -> ActionResult
    ) async throws -> Response {
        let caller = try mutating(context)
        let form = Self.formFields(String(buffer: try await request.body.collect(upTo: 16 << 10)))
        guard let offered = form["csrf"], offered == csrfToken(caller) else {
            throw APIError(.forbidden, "the form's CSRF token is missing or stale: reload the page")
        }
        let outcome: String
        do {
            outcome = "done=" + Self.queryValue(try await action(caller, form).message)
        } catch let error as APIError {
            outcome = "failed=" + Self.queryValue(error.message)
        }
        return Response(status: .seeOther, headers: [.location: "/?\(outcome)"])
    }

    /// `application/x-www-form-urlencoded` fields; the last of a repeated name wins.
    static func formFields(_ body: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = kv.first.flatMap({ String($0).removingPercentEncoding }) else { continue }
            let value = kv.count == 2 ? String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding : ""
            fields[key] = value ?? ""
        }
        return fields
    }

    static func queryValue(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }

    /// A button: a one-field form (plus the CSRF token) posted to `action`.
    func button(_ label: String, _ action: String, csrf: String, reason: Bool = false, danger: Bool = false) -> String {
        "<form class=\"act\" method=\"post\" action=\"\(action.html)\"><input type=\"hidden\" name=\"csrf\" value=\"\(csrf)\">"
            + (reason ? "<input name=\"reason\" placeholder=\"reason\" aria-label=\"reason\">" : "")
            + "<button type=\"submit\"\(danger ? " class=\"danger\"" : "")>\(label.html)</button></form>"
    }

    // MARK: - Live updates

    /// Server-sent events: `changed` whenever the controller assessed again
    /// or a canary moved, a comment every 15 s to keep the connection, and
    /// the end after five minutes (the browser reconnects) or when the
    /// controller stops.
    func events(once: Bool = false) -> Response {
        let status = self.status
        let canaries = reconciler.canaries
        let body = ResponseBody { writer in
            func mark() -> String {
                let s = status.snapshot
                let steps = canaries.all.map { "\($0.deployment):\($0.step):\($0.readings.requests)" }.joined(separator: ",")
                return "\(s.assessedAt?.timeIntervalSince1970 ?? 0)|\(s.lastResult ?? "")|\(s.stopping)|\(steps)"
            }
            var last = mark()
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            if once {
                try await writer.finish(nil)
                return
            }
            let started = ContinuousClock.now
            var quiet = ContinuousClock.now
            // The server stops first on SIGTERM and waits for its requests:
            // the stream ends as soon as that starts.
            while ContinuousClock.now - started < .seconds(300), !status.snapshot.stopping, !Task.isShuttingDownGracefully {
                try await Task.sleep(for: .milliseconds(500))
                let now = mark()
                if now != last {
                    last = now
                    quiet = .now
                    try await writer.write(ByteBuffer(string: "event: changed\ndata: \(Date().timeIntervalSince1970)\n\n"))
                } else if ContinuousClock.now - quiet > .seconds(15) {
                    quiet = .now
                    try await writer.write(ByteBuffer(string: ": still here\n\n"))
                }
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    /// Replaces the page's content with a fresh copy when the server says
    /// something changed; nothing else, and nothing while a form field has
    /// the focus (an operator typing a reason).
    static let liveScript = """
        (function () {
          if (!window.EventSource) return;
          var source = new EventSource("/ui/events");
          var busy = false;
          source.addEventListener("changed", function () {
            var active = document.activeElement;
            if (busy || (active && (active.tagName === "INPUT" || active.tagName === "SELECT"))) return;
            busy = true;
            fetch(location.pathname, { credentials: "same-origin" })
              .then(function (r) { return r.ok ? r.text() : null; })
              .then(function (text) {
                if (!text) return;
                var fresh = new DOMParser().parseFromString(text, "text/html").querySelector("main");
                var main = document.querySelector("main");
                if (fresh && main) { main.replaceWith(fresh); document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1); }
              })
              .catch(function () {})
              .then(function () { busy = false; });
          });
        })();
        """

    // MARK: - Logs

    /// The model's latest run on this machine, each step's log (its last
    /// 64 KiB), marked running until it writes its result.
    func logPage(_ model: String) -> String {
        var out = "<h1>Training log of \(model.html)</h1>"
        guard let run = try? TrainingViews.run(model, version: nil, store: store, workspace: reconciler.workspace) else {
            return out + "<section><p class=\"muted\">No training of \(model.html) ran on this machine.</p></section>"
        }
        out += "<section><p>" + Page.badge(run.running ? "Running" : "Finished") + " <code>\((run.run ?? "").html)</code></p></section>"
        for step in run.steps {
            out += "<section><h2>\(step.name.html)</h2><pre class=\"log\">\(step.tail.html)</pre></section>"
        }
        return out
    }
}
