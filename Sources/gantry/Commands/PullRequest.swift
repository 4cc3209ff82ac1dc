import ArgumentParser
import Forge
import Foundation
import Manifests
import Review

struct PullRequest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pr",
        abstract: "Report plans on pull requests.",
        subcommands: [Comment.self])

    struct Comment: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "comment",
            abstract: "Post a plan report as one pull-request comment (updated in place) and set a commit status.",
            discussion: """
                Finds Gantry's earlier comment on the pull request by its marker
                and updates it, or creates one. The head commit and result are read
                from the report (made by `gantry plan --base ... -o markdown`) and
                set as a commit status: success when the head is valid, failure
                when it is not. Works with GitHub and Gitea (--api-url
                https://gitea.example.com/api/v1). The token is taken by reference.

                Examples:
                  gantry pr comment --provider github --repo org/models --pr 42 plan.md
                  gantry pr comment --provider gitea --api-url https://git.internal/api/v1 --token-env GITEA_TOKEN --repo ml/models --pr 7 plan.md
                """)

        @Option(help: "github or gitea.") var provider: ForgeClient.Provider = .github
        @Option(name: .customLong("api-url"), help: "The API base URL (default for github: https://api.github.com).") var apiURL: String?
        @Option(name: .customLong("repo"), help: "The repository, owner/name.") var repository: String
        @Option(help: "The pull request number.") var pr: Int
        @Option(name: .customLong("token-env"), help: "Environment variable holding the token (default: GITHUB_TOKEN or GITEA_TOKEN).") var tokenEnv: String?
        @Option(name: .customLong("token-file"), help: "File holding the token.", completion: .file()) var tokenFile: String?
        @Option(help: "The commit to set the status on (default: the report's head).") var sha: String?
        @Option(help: "The commit status context.") var context: String = "gantry/plan"
        @Flag(help: "Post the comment only, no commit status.") var noStatus = false
        @Argument(help: "The markdown report.", completion: .file()) var report: String

        func run() async throws {
            guard let body = FileManager.default.contents(atPath: report).map({ String(decoding: $0, as: UTF8.self) }) else {
                throw ValidationError("cannot read \(report)")
            }
            guard let api = apiURL ?? provider.defaultAPI else { throw ValidationError("--api-url is required for \(provider.rawValue)") }
            let ref = tokenFile.map { SecretRef(file: $0) } ?? SecretRef(env: tokenEnv ?? (provider == .github ? "GITHUB_TOKEN" : "GITEA_TOKEN"))
            let token: String
            do { token = try ref.read() } catch {
                printError("error: token: \(error)")
                throw ExitCode(1)
            }
            let forge = ForgeClient(provider: provider, apiURL: api, repository: repository, token: token)
            let fields = Self.markerFields(body)
            do {
                let (id, created) = try await forge.upsertComment(pullRequest: pr, body: body, marker: Review.marker)
                print("\(created ? "created" : "updated") comment \(id) on \(repository)#\(pr)")
                if !noStatus, let commit = sha ?? fields["head"] {
                    let result = fields["result"] ?? "changes"
                    let state = result == "invalid" ? "failure" : "success"
                    let description =
                        [
                            "invalid": "the manifests have errors", "nothing": "nothing to do",
                            "changes": "changes pending on merge",
                        ][result] ?? result
                    try await forge.setStatus(sha: commit, state: state, context: context, description: "Gantry plan: \(description)")
                    print("set \(context) to \(state) on \(commit.prefix(12))")
                }
            } catch {
                printError("error: \(error)")
                throw ExitCode(1)
            }
        }

        /// `head=…` and `result=…` from the report's first line.
        static func markerFields(_ body: String) -> [String: String] {
            guard let first = body.split(separator: "\n").first, first.hasPrefix(Review.marker) else { return [:] }
            var out: [String: String] = [:]
            for part in first.split(separator: " ") {
                let kv = part.split(separator: "=", maxSplits: 1)
                if kv.count == 2 { out[String(kv[0])] = String(kv[1]) }
            }
            return out
        }
    }
}

extension ForgeClient.Provider: ExpressibleByArgument {}
