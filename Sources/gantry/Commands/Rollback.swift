import ArgumentParser
import Foundation
import Git
import Reconciler

struct Rollback: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Roll a Deployment back by committing its older pin to Git.",
        discussion: """
            Git stays the truth: a rollback is a commit that changes the
            Deployment's pinned version on the followed branch (or, for a local
            work tree, on a gantry/rollback-NAME branch for review). The next
            reconcile deploys it like any pin change; a running controller does so
            on its next loop. Without --to, the newest version older than the
            pinned one is chosen. The attempt is recorded in the audit log.

            With --server (or GANTRY_SERVER), the running controller makes the
            commit through its API (an operator token in GANTRY_TOKEN) and
            reconciles at once, instead of at its next interval.

            Examples:
              gantry rollback churn-prod --server https://gantry.internal:8443 --reason "v8 drifts"
              gantry rollback churn-prod --repo git://git.internal/models.git --reason "v8 drifts"
              gantry rollback churn-prod --to 6 --repo . --path examples/quickstart
            """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var format: FormatOptions
    @OptionGroup var controller: ControllerOptions
    @Argument(help: "The Deployment.") var deployment: String
    @Option(help: "The version to pin (default: the newest older than the pinned one).") var to: Int?
    @Option(help: "Why, for the commit message and the audit log.") var reason: String = ""
    @Option(help: "Who asks, \"Name <email>\", for the commit message and the audit log (default: Git's user.name and user.email).")
    var author: String?

    /// The person asking: `--author`, else Git's identity on this machine,
    /// else the login name.
    func requester() -> String {
        if let author, !author.trimmingCharacters(in: .whitespaces).isEmpty { return author }
        if let who = try? Signature.configured() { return "\(who.name) <\(who.email)>" }
        return ProcessInfo.processInfo.environment["USER"].map { "\($0) (cli)" } ?? "cli"
    }

    func run() async throws {
        if controller.named { return try await throughController() }
        let git = try source.source(state: state)
        let reconciler = Reconciler(store: try state.store(), workspace: state.workspace, writeBack: git, author: source.author)
        let result: RollbackResult
        do {
            result = try reconciler.rollback(deployment: deployment, to: to, actor: requester(), reason: reason)
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        if format.output.isData { return try printData(format.output, result) }
        print(result.outcome)
        if !result.applied, result.commit != nil {
            print("The change is on branch \(result.branch ?? "?") for review; merge it to roll back.")
        }
    }

    /// The rollback as the controller's API makes it: it commits, records
    /// the caller, and wakes the loop.
    func throughController() async throws {
        struct Body: Encodable {
            var version: Int?
            var reason: String
        }
        let client = try controller.client()
        let answer: RemoteActionResult
        do {
            answer = try await client.post("/api/v1/deployments/\(deployment)/rollback", json: Body(version: to, reason: reason), idempotent: false)
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        if format.output.isData { return try printData(format.output, answer) }
        print(answer.message)
    }
}
