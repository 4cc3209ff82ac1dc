import Foundation
import GantryTestSupport
import Lineage
import Manifests
import Processes
import Testing

@testable import Server

/// The dashboard, loaded in headless Chromium through scripts/browser-check.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct DashboardTests {
    struct PageLoad: Decodable {
        struct Console: Decodable {
            var level: String?
            var text: String?
        }
        var html: String
        var status: Int?
        var loads: Int?
        var url: String?
        var console: [Console]
        var exceptions: [String?]
        var log: [Console]
        var labels: [String]?

        var problems: [String] {
            console.filter { ["error", "warning", "assert"].contains($0.level ?? "") }.map { "console: \($0.text ?? "")" }
                + exceptions.map { "exception: \($0 ?? "")" }
                + log.filter { ["error", "warning"].contains($0.level ?? "") }.map { "log: \($0.text ?? "")" }
        }
    }

    static func chromium() throws -> String {
        for dir in ["/usr/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/chromium") {
            return dir + "/chromium"
        }
        throw TestFailure("headless Chromium is needed for the dashboard tests and is not installed: run scripts/deps, or apt-get install chromium")
    }

    static func load(
        _ url: String, token: String?, screenshot: String? = nil, width: Int = 1280, mobile: Bool = false, click: [String] = [],
        waitFor: String? = nil
    ) async throws -> PageLoad {
        _ = try chromium()
        var argv = ["python3", packageRoot + "/scripts/browser-check", url, "--width", "\(width)", "--height", mobile ? "844" : "800"]
        for selector in click { argv += ["--click", selector] }
        if let waitFor { argv += ["--wait-for", waitFor] }
        if let token { argv += ["--header", "Authorization: Bearer \(token)"] }
        if let screenshot { argv += ["--screenshot", screenshot] }
        if mobile { argv.append("--mobile") }
        let output = try await runCommand(argv, in: packageRoot, timeout: .seconds(90)).checked()
        guard let line = output.split(separator: "\n").last, let load = try? JSONDecoder().decode(PageLoad.self, from: Data(line.utf8)) else {
            throw TestFailure("browser-check printed no result: \(output.suffix(2000))")
        }
        return load
    }

    @Test func theDashboardShowsDeploymentsModelsDriftHistoryAndPlanWithoutConsoleErrors() async throws {
        let project = try await ServerProject()
        let controller = try await LiveController(project)
        defer { Task { await controller.stop() } }  // on a failure; the end of the test awaits it
        try await controller.waitForFirstReconcile()
        // A second version, so the chart has a line and the lineage an edge.
        try project.setQuality(from: "0.8", to: "0.9")
        try await project.push("Better quality")
        controller.loop.wakeup.request("test")
        try await eventually("v2 was trained") { try controller.store.versions(of: "demo").count == 2 }
        try await controller.waitForFirstReconcile()

        let screenshots = makeTemporaryDirectory("gantry-screens")
        let overview = try await Self.load(controller.base + "/", token: Tokens.viewer, screenshot: screenshots + "/overview.png")
        #expect(overview.status == 200)
        #expect(overview.problems.isEmpty, "\(overview.problems)")
        for text in [
            "Deployments", "demo-prod", "Synced", "Healthy", "Drift", "No drift", "Models", "Pending plan",
            "No changes: everything matches Git.", "Recent history", "Better quality", "accuracy=0.9",
        ] {
            #expect(overview.html.contains(text), "overview lacks \(text)")
        }

        let model = try await Self.load(controller.base + "/models/demo", token: Tokens.viewer, screenshot: screenshots + "/model.png")
        #expect(model.status == 200)
        #expect(model.problems.isEmpty, "\(model.problems)")
        #expect(model.html.contains("aria-label=\"accuracy by version\""))
        #expect(model.html.contains("<polyline"))
        #expect(model.html.contains("aria-label=\"lineage graph\""))
        #expect(model.html.contains("param quality changed (0.8 -&gt; 0.9)") || model.html.contains("param quality changed (0.8 -> 0.9)"))
        #expect(model.html.contains("demo v2"))
        #expect(model.labels?.isEmpty == true, "every chart label fits: \(model.labels ?? ["not measured"])")

        let phone = try await Self.load(controller.base + "/", token: Tokens.viewer, screenshot: screenshots + "/phone.png", width: 390, mobile: true)
        #expect(phone.problems.isEmpty, "\(phone.problems)")

        let signedOut = try await Self.load(controller.base + "/", token: nil)
        #expect(signedOut.status == 401)
        #expect(signedOut.html.contains("Sign in"))
        #expect(!signedOut.html.contains("demo-prod"))
        print("dashboard screenshots: \(screenshots)")
        await controller.stop()
    }

    /// The buttons an operator presses, in Chromium: each acts through the
    /// API's own action and comes back with what happened; a viewer has
    /// none; a form without its CSRF token changes nothing; and the page
    /// follows the controller without reloading.
    @Test func anOperatorsButtonsActAViewerSeesNoneAndThePageFollowsTheController() async throws {
        let project = try await ServerProject()
        let controller = try await LiveController(project)
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()
        try project.setQuality(from: "0.8", to: "0.9")
        project.write("manifests/deployment.yaml", project.deploymentManifest(version: 2))
        try await project.push("Ship v2")
        controller.loop.wakeup.request("test")
        try await eventually("v2 serves", timeout: .seconds(60)) { try controller.store.deployment("demo-prod")?.version == 2 }
        try await controller.waitForFirstReconcile()
        let base = controller.base

        let viewer = try await Self.load(base + "/", token: Tokens.viewer)
        #expect(viewer.problems.isEmpty, "\(viewer.problems)")
        #expect(!viewer.html.contains("class=\"act\"") && !viewer.html.contains("Refresh now"), "a viewer has no buttons")

        func press(_ action: String) async throws -> PageLoad {
            let page = try await Self.load(base + "/", token: Tokens.operator, click: ["form[action=\"\(action)\"] button"])
            #expect(page.problems.isEmpty, "\(page.problems)")
            #expect(page.loads == 2 && page.url?.hasPrefix(base + "/?done=") == true, "\(page.url ?? "")")
            return page
        }
        let suspended = try await press("/ui/deployments/demo-prod/suspend")
        #expect(suspended.html.contains("Deployment/demo-prod is suspended"), "\(suspended.html.prefix(3000))")
        #expect(try controller.store.suspensions().map(\.object) == ["Deployment/demo-prod"])
        let resumed = try await press("/ui/deployments/demo-prod/resume")
        #expect(resumed.html.contains("Deployment/demo-prod is reconciled again"))
        #expect(try controller.store.suspensions().isEmpty)
        let refreshed = try await press("/ui/refresh")
        #expect(refreshed.html.contains("a reconcile starts now"))
        let rolledBack = try await press("/ui/deployments/demo-prod/rollback")
        #expect(rolledBack.html.contains("Git now pins demo@v1"), "\(rolledBack.html.prefix(3000))")
        try await eventually("v1 serves again", timeout: .seconds(60)) { try controller.store.deployment("demo-prod")?.version == 1 }
        let actions = try controller.store.auditLog(limit: 50).filter { $0.actor == "olivia" }.map(\.action)
        #expect(Set(actions) == ["suspend", "resume", "refresh", "rollback"], "\(actions)")

        // Without the form's CSRF token, or with another's, nothing happens.
        let forged = try await controller.send(
            "POST", "/ui/deployments/demo-prod/suspend", token: Tokens.operator, body: "reason=forged",
            headers: [("Content-Type", "application/x-www-form-urlencoded")])
        #expect(forged.status == 403 && forged.text.contains("CSRF"), "\(forged.status) \(forged.text)")
        let byCookie = try await controller.send(
            "POST", "/ui/deployments/demo-prod/suspend", body: "csrf=0123&reason=forged",
            headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", "gantry_token=\(Tokens.operator)")])
        #expect(byCookie.status == 403, "\(byCookie.status) \(byCookie.text)")
        #expect(try controller.store.suspensions().isEmpty)

        // The page follows the controller: a suspension made elsewhere
        // shows up with no reload.
        let following = Task { try await Self.load(base + "/", token: Tokens.viewer, waitFor: "Suspended") }
        try await Task.sleep(for: .seconds(3))
        let suspend = try await controller.send("POST", "/api/v1/deployments/demo-prod/suspend", token: Tokens.operator, body: "{}")
        #expect(suspend.status == 200)
        let followed = try await following.value
        #expect(followed.loads == 1 && followed.html.contains("b-suspended"), "updated in place: \(followed.loads ?? 0)")
        #expect(followed.problems.isEmpty, "\(followed.problems)")

        // The training log of the model's latest run.
        let log = try await Self.load(base + "/models/demo/log", token: Tokens.viewer)
        #expect(log.status == 200 && log.html.contains("<h2>train</h2>") && log.html.contains("Finished"), "\(log.html.prefix(2000))")
        let trainings = try await controller.json("/api/v1/trainings") as? [Any]
        #expect(trainings?.isEmpty == true, "nothing trains now")
        await controller.stop()
    }

    /// A branch Gantry pushed for review links to the forge's page for it,
    /// on the model page; with no known web page it stays plain text.
    @Test func aPromotionBranchLinksToTheForgesReviewPage() async throws {
        let project = try await ServerProject()
        let web = "https://git.example.com/ml/models"
        let controller = try await LiveController(project, web: web)
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()
        try project.setQuality(from: "0.8", to: "0.9")
        let model = try String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8)
        project.write("manifests/model.yaml", model + "\n  promotion: { policy: manual }\n")
        try await project.push("Better quality, promoted by review")
        controller.loop.wakeup.request("test")
        try await eventually("v2's promotion is recorded", timeout: .seconds(60)) {
            try controller.store.version("demo", 2)?.promotion.contains("gantry/demo-v2") == true
        }
        let page = try await controller.get("/models/demo", token: Tokens.viewer)
        #expect(page.status == 200)
        #expect(
            page.text.contains("<a href=\"\(web)/compare/main...gantry/demo-v2\" rel=\"noopener\">gantry/demo-v2</a>"),
            "\(page.text.components(separatedBy: "id=\"versions\"").last?.prefix(2000) ?? "")")
        #expect(try await git(["branch", "--list", "gantry/demo-v2"], in: project.bare).contains("gantry/demo-v2"), "the branch exists")
        await controller.stop()
    }

    @Test(
        arguments: [
            ("https://github.com/ml/models.git", "https://github.com/ml/models"),
            ("https://ci-bot@git.example.com/ml/models", "https://git.example.com/ml/models"),
            ("ssh://git@gitlab.example.com:2222/ml/models.git", "https://gitlab.example.com/ml/models"),
            ("git@github.com:ml/models.git", "https://github.com/ml/models"),
            ("git://127.0.0.1/models.git", nil),
            ("file:///srv/git/models.git", nil),
            ("https://github.com/models.git", nil),
        ] as [(String, String?)])
    func theWebPageOfARepositoryComesFromItsCloneURL(_ location: String, _ page: String?) {
        #expect(GantryServer.FollowedSource.webPage(of: location) == page)
    }

    @Test func aReviewLinkIsTheForgesCompareView() {
        #expect(
            GantryServer.FollowedSource(location: "git@github.com:ml/models.git", ref: "prod").review("gantry/demo-v2")
                == "https://github.com/ml/models/compare/prod...gantry/demo-v2")
        #expect(
            GantryServer.FollowedSource(location: "https://gitlab.com/ml/models.git", ref: nil).review("gantry/rollback-x")
                == "https://gitlab.com/ml/models/-/compare/main...gantry/rollback-x")
        #expect(GantryServer.FollowedSource(location: "file:///srv/models.git", ref: "main").review("gantry/x") == nil)
        #expect(
            GantryServer.FollowedSource(location: "file:///srv/models.git", ref: "main", web: "https://forge.internal/ml/models/").review("gantry/x")
                == "https://forge.internal/ml/models/compare/main...gantry/x")
    }

    /// A version trained on changed data: its lineage in the API and on the
    /// model page names the file that changed and its rows.
    @Test func theDataAVersionChangedShowsInItsLineageAndOnTheModelPage() async throws {
        let project = try await ServerProject(deployment: false)
        let data = makeTemporaryDirectory("events")
        try "user,clicks\n1,3\n2,5\n".write(toFile: data + "/events.csv", atomically: true, encoding: .utf8)
        project.write(
            "manifests/data.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Dataset
            metadata: { name: events }
            spec: { source: { path: \(data) } }
            """)
        let model = try String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8)
        project.write("manifests/model.yaml", model + "\n  datasets: [events]\n  triggers: { data: true }\n")
        try await project.push("Train on the events")
        let controller = try await LiveController(project)
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()

        try "user,clicks\n1,3\n2,5\n3,8\n".write(toFile: data + "/events.csv", atomically: true, encoding: .utf8)
        controller.loop.wakeup.request("new data")
        try await eventually("v2 is trained on the new data", timeout: .seconds(60)) { try controller.store.versions(of: "demo").count == 2 }

        let view = try await controller.json("/api/v1/models/demo/versions/2/lineage") as? [String: Any]
        let changes = try #require(view?["dataChanges"] as? [[String: Any]], "\(view ?? [:])")
        #expect(changes.count == 1, "\(changes)")
        #expect(changes.first?["path"] as? String == "events.csv" && changes.first?["change"] as? String == "modified")
        #expect(changes.first?["rowsAdded"] as? Int == 1 && changes.first?["addedRows"] as? [String] == ["3,8"], "\(changes)")
        let first = try await controller.json("/api/v1/models/demo/versions/1/lineage") as? [String: Any]
        #expect(first?["dataChanges"] == nil, "the first version has no parent to differ from")

        let page = try await controller.get("/models/demo", token: Tokens.viewer)
        #expect(page.text.contains("Data of v2 since v1") && page.text.contains("modified events/events.csv (20 -&gt; 24 bytes, rows +1 -0)"), "\(page.text)")
        #expect(page.text.contains("+ 3,8"))
        await controller.stop()
    }

    /// Charts of a long history with awkward values and names: every label
    /// fits, as headless Chromium draws it. (With 60 versions every x label
    /// would overlap its neighbour; a value like 1234567.5 would be cut
    /// off at the left.)
    @Test func everyChartLabelFitsWithManyVersionsLongNamesAndLargeValues() async throws {
        let versions = try (1...60).map { n in
            let json = """
                {"model": "customer-churn-gradient-boosted-eu-west", "number": \(n), "digest": "sha256:\(String(repeating: "ab", count: 32))",
                 "commit": "0123456789abcdef", "createdAt": 0, "gatesPassed": \(n % 7 != 0), "gateReport": "", "promotion": "",
                 "artifactDigest": "", "servedBy": \(n == 60 ? #"["churn-production-europe-west", "churn-staging-europe-west"]"# : "[]"),
                 "metrics": {"accuracy": \(0.8 + Double(n) / 1000), "requests_per_second_at_the_99th_percentile": \(1234567.5 + Double(n) * 1001.25),
                             "loss": \(0.000012345 / Double(n))}}
                """
            return try JSONDecoder().decode(VersionView.self, from: Data(json.utf8))
        }
        func lineage(_ n: Int) -> Lineage {
            Lineage(
                model: "customer-churn-gradient-boosted-eu-west", commit: "c", pipeline: "p", pipelineDigest: "d", codePath: "training/src/models/churn",
                codeTree: "0123456789abcdef0123", datasets: ["customer-transactions-eu-west-\(n)": "sha256:" + String(repeating: "9", count: 64)],
                params: ["learning_rate_schedule_warmup_steps": .int(n * 1000), "objective": .string("binary:logistic_with_weights")],
                runtime: [:])
        }
        let lineages = Dictionary(uniqueKeysWithValues: (1...6).map { ($0, lineage($0)) })
        let body = Charts.metrics(versions) + "<div class=\"scroll\">" + Charts.lineage(Array(versions.prefix(6)), lineages: lineages) + "</div>"
        let file = makeTemporaryDirectory("charts") + "/charts.html"
        try Page.render(title: "charts", caller: nil, body: body).write(toFile: file, atomically: true, encoding: .utf8)
        for width in [1280, 390] {
            let page = try await Self.load("file://" + file, token: nil, width: width, mobile: width < 500)
            let labels = try #require(page.labels, "browser-check measured no labels")
            #expect(labels.isEmpty, "at \(width) px: \(labels.prefix(10)) (\(labels.count) in all)")
            #expect(page.html.contains("requests_per_second"), "the charts were drawn")
        }
    }

    @Test func aTrainingUnderWayShowsInTheAPIAndOnTheDashboardWithItsOutputSoFar() async throws {
        let project = try await ServerProject(deployment: false)
        let controller = try await LiveController(project)
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()
        // A training that says one line, then waits for the test.
        let release = makeTemporaryDirectory("release") + "/go"
        project.write(
            "src/train.py",
            """
            import json, os, sys, time
            out, quality = sys.argv[1], float(sys.argv[2])
            print("epoch 1 of 2: loss 0.41", flush=True)
            while not os.path.exists("\(release)"):
                time.sleep(0.05)
            print("epoch 2 of 2: loss 0.22", flush=True)
            json.dump({"quality": quality}, open(os.path.join(out, "model.json"), "w"))
            json.dump({"accuracy": quality, "loss": 0.22}, open(os.path.join(out, "metrics.json"), "w"))
            """)
        try await project.push("Train in two epochs")
        controller.loop.wakeup.request("test")
        defer { FileManager.default.createFile(atPath: release, contents: Data()) }

        var training: [String: Any] = [:]
        try await eventually("the API lists the training with its first epoch", timeout: .seconds(60)) {
            training = (try await controller.json("/api/v1/trainings") as? [[String: Any]])?.first ?? [:]
            let steps = training["steps"] as? [[String: Any]] ?? []
            return (steps.first?["tail"] as? String)?.contains("epoch 1 of 2") == true
        }
        #expect(training["model"] as? String == "demo" && training["target"] as? String == "local", "\(training)")
        let step = try #require((training["steps"] as? [[String: Any]])?.first)
        #expect(step["name"] as? String == "train" && !(step["tail"] as? String ?? "").contains("epoch 2"), "\(step)")
        let log = try await controller.json("/api/v1/models/demo/logs") as? [String: Any]
        #expect(log?["running"] as? Bool == true, "\(log ?? [:])")

        let overview = try await Self.load(controller.base + "/", token: Tokens.viewer)
        #expect(overview.problems.isEmpty, "\(overview.problems)")
        #expect(
            overview.html.contains("Training now") && overview.html.contains("train: epoch 1 of 2: loss 0.41"),
            "\(overview.html.prefix(4000))")
        let page = try await Self.load(controller.base + "/models/demo/log", token: Tokens.viewer)
        #expect(page.status == 200 && page.html.contains("epoch 1 of 2") && !page.html.contains("Finished"), "\(page.html.prefix(3000))")

        FileManager.default.createFile(atPath: release, contents: Data())
        try await eventually("v2 is recorded", timeout: .seconds(60)) { try controller.store.versions(of: "demo").count == 2 }
        try await eventually("nothing trains", timeout: .seconds(30)) {
            (try await controller.json("/api/v1/trainings") as? [Any])?.isEmpty == true
        }
        let finished = try await controller.json("/api/v1/models/demo/logs") as? [String: Any]
        let tail = ((finished?["steps"] as? [[String: Any]])?.first?["tail"] as? String) ?? ""
        #expect(finished?["running"] as? Bool == false && tail.contains("epoch 2 of 2"), "\(finished ?? [:])")
        await controller.stop()
    }
}

/// Tokens by role, under the name the dashboard tests use.
