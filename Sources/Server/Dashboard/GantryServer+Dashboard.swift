import Foundation
import Hummingbird
import Lineage
import Planner
import StableAddress

/// The dashboard: server-rendered pages for a viewer token, given as a
/// bearer header or, from a browser, through the sign-in form's cookie.
extension GantryServer {
    func addDashboardRoutes(_ router: Router<APIContext>) {
        router.get("/") { request, context in
            guard let caller = context.caller else { return loginPage(status: .unauthorized, error: context.rejectedCredential ? "Unknown token." : nil) }
            let query = request.uri.queryParameters
            let flash =
                query.get("done").map { "<p class=\"flash ok\" role=\"status\">\(linkingBranches($0.html))</p>" }
                ?? query.get("failed").map { "<p class=\"flash bad\" role=\"alert\">\($0.html)</p>" } ?? ""
            return HTML(text: Page.render(title: "Overview", caller: caller.name, body: flash + (try overview(caller))))
        }
        router.get("/models/:name") { _, context in
            guard let caller = context.caller else { return loginPage(status: .unauthorized, error: nil) }
            let name = try context.parameters.require("name")
            guard let body = try modelPage(name) else { throw APIError(.notFound, "no Model \(name)") }
            return HTML(text: Page.render(title: name, caller: caller.name, body: body))
        }
        router.get("/login") { _, _ in loginPage(status: .ok, error: nil) }
        router.post("/login") { request, _ in
            let form = String(buffer: try await request.body.collect(upTo: 16 << 10))
            let token =
                form.split(separator: "&").compactMap { pair -> String? in
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2, kv[0] == "token" else { return nil }
                    return String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
                }.first ?? ""
            guard tokens.authenticate(token) != nil else { return loginPage(status: .unauthorized, error: "Unknown token.") }
            return HTML(
                text: "", status: .seeOther,
                headers: [.location: "/", .setCookie: "\(Authentication.cookie)=\(token); Path=/; HttpOnly; SameSite=Strict"])
        }
        router.get("/logout") { _, _ in
            HTML(
                text: "", status: .seeOther,
                headers: [.location: "/login", .setCookie: "\(Authentication.cookie)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"])
        }
    }

    func loginPage(status: HTTPResponse.Status, error: String?) -> HTML {
        let body = """
            <section><h1>Sign in</h1>
            <p>Paste an API token. A viewer's reads; an operator's also refreshes, suspends, resumes and rolls back.</p>
            \(error.map { "<p class=\"badge b-failed\">\($0.html)</p>" } ?? "")
            <form class="login" method="post" action="/login"><input type="password" name="token" autocomplete="off" placeholder="token" aria-label="token" required><button type="submit">Sign in</button></form>
            </section>
            """
        return HTML(text: Page.render(title: "Sign in", caller: nil, body: body), status: status)
    }

    func overview(_ caller: TokenEntry) throws -> String {
        let s = statusView()
        let deployments = try deploymentViews()
        let models = try modelViews()
        let plan = status.snapshot.plan
        // Buttons for those who may press them; a viewer sees none.
        let csrf = caller.role >= .operator ? csrfToken(caller) : nil
        var out = "<h1>Overview</h1>\n<section><div class=\"grid\">"
        out += stat("Source", "<code>\(s.source.html)</code>")
        out += stat("Revision", s.revision.map { "<code>\($0.commit.prefix(12))</code> <span class=\"muted\">\($0.subject.html)</span>" } ?? "–")
        out += stat("Controller", Page.badge(s.health) + (s.degradedSince.map { " since " + Page.time($0) } ?? ""))
        out += stat("Last reconcile", (s.lastResult.map(Page.badge) ?? "–") + " " + Page.time(s.assessedAt))
        out += stat("Pending actions", "\(s.pendingActions)")
        out += "</div>" + (s.lastError.map { "<p class=\"badge b-failed\">\($0.html)</p>" } ?? "")
        if let csrf { out += "<div class=\"actions\">" + button("Refresh now", "/ui/refresh", csrf: csrf) + "</div>" }
        out += "</section>\n"

        let trainings = try TrainingViews.inProgress(store, workspace: reconciler.workspace)
        if !trainings.isEmpty {
            out += "<section id=\"trainings\"><h2>Training now</h2>"
            out +=
                Page.table(
                    ["model", "target", "started", "last output"],
                    trainings.map { t in
                        [
                            "<a href=\"/models/\(t.model.html)/log\">\(t.model.html)</a>", t.target.html, Page.time(t.startedAt),
                            "<code>" + (t.steps.last.map { "\($0.name): " + ($0.tail.split(separator: "\n").last.map(String.init) ?? "") } ?? "–").html
                                + "</code>",
                        ]
                    }, empty: "") + "</section>\n"
        }

        out += "<section id=\"deployments\"><h2>Deployments</h2>"
        out +=
            Page.table(
                ["deployment", "model", "pinned", "serving", "target", "sync", "health", "address"] + (csrf == nil ? [] : ["actions"]),
                deployments.map { deploymentRow($0, csrf: csrf) },
                empty: "No Deployments.") + "</section>\n"

        let canaries = reconciler.canaries.all
        if !canaries.isEmpty {
            out += "<section id=\"rollouts\"><h2>Canaries under way</h2>"
            out +=
                Page.table(
                    ["deployment", "target", "step", "new version's share", "its requests this step", "failed", "p99 at most"],
                    canaries.map { c in
                        [
                            c.deployment.html, c.target.html, "\(c.step) of \(c.steps) (v\(c.fromVersion) → v\(c.version))", "\(c.percent)%",
                            "\(c.readings.requests)", c.readings.errorRate.map { String(format: "%.1f%%", $0 * 100) } ?? "–",
                            c.readings.quantile(0.99).map { $0.isFinite ? "\($0) s" : "over 10 s" } ?? "–",
                        ]
                    }, empty: "") + "</section>\n"
        }

        let drifted = deployments.filter(\.drifted)
        out += "<section id=\"drift\"><h2>Drift</h2>"
        out +=
            Page.table(
                ["deployment", "field", "desired (Git)", "observed"],
                drifted.flatMap { d in
                    d.drift.filter { !$0.inSync }.map { [d.name.html, $0.field.html, "<code>\($0.desired.html)</code>", "<code>\($0.observed.html)</code>"] }
                }, empty: "No drift: what runs is what Git declares.") + "</section>\n"

        out += "<section id=\"models\"><h2>Models</h2>"
        out +=
            Page.table(
                ["model", "latest", "versions", "sync", "metrics of the latest", "log"] + (csrf == nil ? [] : ["actions"]),
                models.map { m in
                    [
                        "<a href=\"/models/\(m.name.html)\">\(m.name.html)</a>", m.latestVersion.map { "v\($0)" } ?? "–", "\(m.versions.count)",
                        Page.badge(m.sync.status.rawValue) + " <span class=\"muted\">\(m.sync.detail.html)</span>",
                        (m.versions.last?.metrics ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key.html)=\(Charts.format($0.value))" }.joined(separator: " "),
                        "<a href=\"/models/\(m.name.html)/log\">training log</a>",
                    ]
                        + (csrf.map { csrf in
                            [
                                m.suspended == nil
                                    ? button("Suspend", "/ui/models/\(m.name)/suspend", csrf: csrf)
                                    : button("Resume", "/ui/models/\(m.name)/resume", csrf: csrf)
                            ]
                        } ?? [])
                }, empty: "No Models.") + "</section>\n"

        out += "<section id=\"plan\"><h2>Pending plan</h2>" + planHTML(plan) + "</section>\n"

        let history = try store.reconciles(limit: 10)
        out += "<section id=\"history\"><h2>Recent history</h2>"
        out +=
            Page.table(
                ["#", "started", "result", "actions", "commit", "author / subject"],
                history.map { r in
                    [
                        "\(r.id ?? 0)", Page.time(r.startedAt), Page.badge(r.result), "\(r.actions)", "<code>\(r.commit.prefix(12))</code>",
                        "\(r.author.html) <span class=\"muted\">\(r.subject.html)</span>",
                    ]
                }, empty: "No reconciles yet.") + "</section>"
        return out
    }

    /// A Deployment's row of the overview, with its buttons when `csrf` is given.
    func deploymentRow(_ d: DeploymentView, csrf: String?) -> [String] {
        // Several targets: each one's version, in Git's order.
        let serving: String =
            d.targets.count > 1
            ? d.targets.map { "\($0.target.html) \($0.servedVersion.map { "v\($0)" } ?? "–")" }.joined(separator: "<br>")
            : d.servedVersion.map { "v\($0)" } ?? "–"
        let targets: String = d.targets.count > 1 ? d.targets.map(\.target.html).joined(separator: "<br>") : d.target.html
        let addresses: String =
            d.targets.count > 1
            ? d.targets.map { "<code>\(($0.address ?? "–").html)</code>" }.joined(separator: "<br>")
            : "<code>\((d.address ?? "–").html)</code>"
        var row: [String] = [
            d.name.html, "<a href=\"/models/\(d.model.html)\">\(d.model.html)</a>", d.pinnedVersion.map { "v\($0)" } ?? "–", serving, targets,
            Page.badge(d.sync.status.rawValue) + " <span class=\"muted\">\(d.sync.detail.html)</span>",
            Page.badge(d.health.status.rawValue) + " <span class=\"muted\">\(d.health.detail.html)</span>", addresses,
        ]
        if let csrf {
            var actions =
                d.suspended == nil
                ? button("Suspend", "/ui/deployments/\(d.name)/suspend", csrf: csrf)
                : button("Resume", "/ui/deployments/\(d.name)/resume", csrf: csrf)
            if d.servedVersion != nil {
                actions += button("Roll back", "/ui/deployments/\(d.name)/rollback", csrf: csrf, reason: true, danger: true)
            }
            row.append(actions)
        }
        return row
    }

    func planHTML(_ plan: Plan?) -> String {
        guard let plan else { return "<p class=\"muted\">No plan yet: the first reconcile has not finished.</p>" }
        if !plan.isValid {
            return "<p>" + Page.badge("Invalid") + " The latest revision is invalid; what runs stays as it is.</p><ul class=\"plan\">"
                + plan.diagnostics.map { "<li><code>\($0.description.html)</code></li>" }.joined() + "</ul>"
        }
        var out =
            plan.actions.isEmpty
            ? "<p>No changes: everything matches Git.</p>"
            : "<ul class=\"plan\">" + plan.actions.map { "<li><code>\($0.summary.html)</code></li>" }.joined() + "</ul>"
        if !plan.warnings.isEmpty {
            out += "<h2>Warnings</h2><ul class=\"plan\">" + plan.warnings.map { "<li>\($0.html)</li>" }.joined() + "</ul>"
        }
        return out
    }

    /// The files (and CSV/TSV rows) the latest version's data changed
    /// since its parent's, from the snapshots; empty when they are the
    /// same or a side has no snapshot.
    func dataChanges(_ numbers: [Int], lineages: [Int: Lineage]) -> String {
        guard numbers.count > 1, let last = numbers.last, let lineage = lineages[last],
            let parent = numbers.dropLast().last, let before = lineages[parent],
            let changes = SnapshotDiff.sinceParent(lineage, before, in: SnapshotStore(root: reconciler.workspace.snapshots)), !changes.isEmpty
        else { return "" }
        return "<h3>Data of v\(last) since v\(parent)</h3><ul class=\"plan\">"
            + changes.map { c in
                "<li><code>\(c.summary.html)</code>"
                    + ((c.addedRows ?? []).map { "<br><code class=\"muted\">+ \($0.html)</code>" }
                    + (c.removedRows ?? []).map { "<br><code class=\"muted\">- \($0.html)</code>" }).joined() + "</li>"
            }.joined() + "</ul>"
    }

    func modelPage(_ name: String) throws -> String? {
        guard let model = try modelViews().first(where: { $0.name == name }) else { return nil }
        var lineages: [Int: Lineage] = [:]
        for v in try store.versions(of: name) { lineages[v.number] = Lineage.decode(v.lineage) }
        var out = "<h1>Model \(name.html) " + Page.badge(model.sync.status.rawValue) + "</h1>"
        out += "<section id=\"metrics\"><h2>Metrics by version</h2>" + Charts.metrics(model.versions) + "</section>"
        out += "<section id=\"lineage\"><h2>Lineage</h2><div class=\"scroll\">" + Charts.lineage(model.versions, lineages: lineages) + "</div>"
        out += dataChanges(model.versions.map(\.number), lineages: lineages) + "</section>"
        out += "<section id=\"versions\"><h2>Versions</h2>"
        out +=
            Page.table(
                ["version", "created", "commit", "metrics", "gates", "promotion", "serves"],
                model.versions.reversed().map { v in
                    [
                        "v\(v.number)", Page.time(v.createdAt), "<code>\(v.commit.prefix(12))</code>",
                        v.metrics.sorted { $0.key < $1.key }.map { "\($0.key.html)=\(Charts.format($0.value))" }.joined(separator: " "),
                        Page.badge(v.gatesPassed ? "Synced" : "Failed").replacingOccurrences(of: ">Synced<", with: ">pass<").replacingOccurrences(
                            of: ">Failed<", with: ">fail<")
                            + " <span class=\"muted\">\(v.gateReport.html)</span>",
                        linkingBranches(v.promotion.html), v.servedBy.map(\.html).joined(separator: ", "),
                    ]
                }, empty: "No versions yet.") + "</section>"
        return out
    }

    func stat(_ label: String, _ value: String) -> String {
        "<div class=\"stat\"><span class=\"muted\">\(label.html)</span><b>\(value)</b></div>"
    }

    /// `html` with each branch Gantry pushes for review (`gantry/…`) linked
    /// to the forge's page for reviewing it, when the followed repository
    /// has one.
    func linkingBranches(_ html: String) -> String {
        guard source.web != nil else { return html }
        return html.replacing(/gantry\/[A-Za-z0-9._-]*[A-Za-z0-9_-]/) { match in
            let branch = String(match.output)
            guard let url = source.review(branch) else { return branch }
            return "<a href=\"\(url.html)\" rel=\"noopener\">\(branch)</a>"
        }
    }
}
