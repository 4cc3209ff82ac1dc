import ArgumentParser
import Foundation
import Git
import Lineage

@main
struct Gantry: AsyncParsableCommand {
    /// ArgumentParser's own entry point and its way of reporting errors,
    /// with libgit2 initialising on another thread meanwhile, and the
    /// process ended by `GitLibrary.exit`, which knows about that thread.
    static func main() async {
        if DataStatus.isInvoked(by: CommandLine.arguments) {
            // Run again on an unchanged local repository it reads no Git
            // (`ManifestSnapshot`): its data's directories are listed
            // meanwhile instead, and libgit2 loaded only if needed.
            DataStatus.prefetch(arguments: CommandLine.arguments)
        } else {
            GitLibrary.prepare()
        }
        var code: Int32 = 0
        do {
            var command = try parseAsRoot()
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            code = exitCode(for: error).rawValue
            let message = fullMessage(for: error)
            if !message.isEmpty {
                if code == 0 { print(message) } else { printError(message) }
            }
        }
        GitLibrary.exit(code)
    }

    static let configuration = CommandConfiguration(
        commandName: "gantry",
        abstract: "GitOps for machine-learning models: a Git repository declares models, pipelines and deployments; Gantry makes it so.",
        discussion: """
            Examples:
              gantry validate examples/quickstart
              gantry plan --repo . --path examples/quickstart
              gantry apply --repo . --path examples/quickstart

            Shell completion:
              gantry --generate-completion-script bash > /etc/bash_completion.d/gantry
            """,
        version: GantryVersion.current,
        subcommands: [
            Validate.self, PlanCommand.self, Apply.self, ControllerCommand.self,
            Diff.self, Status.self, History.self, Versions.self, LineageCommand.self, PullRequest.self, Reproduce.self, Rollback.self, DataCommand.self,
            GC.self,
            Destroy.self, RolloutCommand.self, Refresh.self, Suspend.self, Resume.self, Wait.self, Logs.self,
            Schema.self, Forward.self, RunJob.self, AgentCommand.self, GateCommand.self,
        ]
    )
}

/// `-o text|json|yaml` for commands whose output is data.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, yaml

    /// JSON or YAML: the same data, for a program.
    var isData: Bool { self != .text }
}
