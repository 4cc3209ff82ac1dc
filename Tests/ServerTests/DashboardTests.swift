import Foundation
import GantryTestSupport
import Processes
import Testing

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
        var console: [Console]
        var exceptions: [String?]
        var log: [Console]

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

    static func load(_ url: String, token: String?, screenshot: String? = nil, width: Int = 1280, mobile: Bool = false) async throws -> PageLoad {
        _ = try chromium()
        var argv = ["python3", packageRoot + "/scripts/browser-check", url, "--width", "\(width)", "--height", mobile ? "844" : "800"]
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

        let phone = try await Self.load(controller.base + "/", token: Tokens.viewer, screenshot: screenshots + "/phone.png", width: 390, mobile: true)
        #expect(phone.problems.isEmpty, "\(phone.problems)")

        let signedOut = try await Self.load(controller.base + "/", token: nil)
        #expect(signedOut.status == 401)
        #expect(signedOut.html.contains("Sign in"))
        #expect(!signedOut.html.contains("demo-prod"))
        print("dashboard screenshots: \(screenshots)")
        await controller.stop()
    }
}

/// Tokens by role, under the name the dashboard tests use.
