import ArgumentParser
import Foundation
import Git
import Lineage
import Listener
import Manifests
import Source
import State
import Targets

/// Where the manifests come from.
struct SourceOptions: ParsableArguments {
    @Option(help: "A Git repository: a local path or a URL (file://, git://, https://).", completion: .directory)
    var repo: String = "."

    @Option(name: [.customLong("ref"), .customLong("branch")], help: "Branch, tag or commit to follow (default: HEAD for a local path, main for a URL).")
    var ref: String?

    @Option(help: "The project root inside the repository, where the manifests are.")
    var path: String = ""

    @Option(name: .customLong("token-env"), help: "For https:// repositories: the environment variable holding a token.")
    var tokenEnv: String?

    @Option(name: .customLong("token-file"), help: "For https:// repositories: a file holding a token.", completion: .file())
    var tokenFile: String?

    @Option(help: "The user name sent with the token.")
    var username: String = "x-access-token"

    @Option(name: .customLong("git-author"), help: "Author of write-back commits, \"Name <email>\".")
    var gitAuthor: String = "Gantry <gantry@localhost>"

    var author: Signature {
        let parts = gitAuthor.split(separator: "<", maxSplits: 1)
        let name = parts.first.map { $0.trimmingCharacters(in: .whitespaces) } ?? "Gantry"
        let email = parts.count > 1 ? parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "> ")) : "gantry@localhost"
        return Signature(name: name.isEmpty ? "Gantry" : name, email: email)
    }

    func source(state: StateOptions) throws -> GitSource {
        if tokenEnv != nil && tokenFile != nil { throw ValidationError("give --token-env or --token-file, not both") }
        let token = tokenEnv.map { SecretRef(env: $0) } ?? tokenFile.map { SecretRef(file: $0) }
        do {
            return try GitSource(
                location: repo, ref: ref, path: path, cacheDirectory: state.workspace.sources,
                token: token, username: username)
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Where Gantry keeps its state.
struct StateOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: "The state directory (default: $GANTRY_STATE_DIR or .gantry).", completion: .directory)
    var stateDirectory: String?

    var directory: String { Self.directory(given: stateDirectory) }

    static func directory(given: String?) -> String {
        given ?? ProcessInfo.processInfo.environment["GANTRY_STATE_DIR"] ?? ".gantry"
    }

    /// The state directory `arguments` (a whole command line, unparsed)
    /// name, read as ArgumentParser will read them (the last
    /// `--state-dir`, in either form, before any `--`); for work started
    /// before parsing, which a wrong answer only wastes.
    static func directory(in arguments: [String]) -> String {
        var given: String?
        var i = 1
        while i < arguments.count, arguments[i] != "--" {
            if arguments[i] == "--state-dir", i + 1 < arguments.count {
                given = arguments[i + 1]
                i += 1
            } else if arguments[i].hasPrefix("--state-dir=") {
                given = String(arguments[i].dropFirst("--state-dir=".count))
            }
            i += 1
        }
        return directory(given: given)
    }

    var workspace: Workspace { Workspace(root: directory) }

    func store() throws -> StateStore { try StateStore(directory: workspace.root) }

    /// The store if one exists; read-only commands never create one.
    func existingStore() throws -> StateStore? { try StateStore.existing(directory: workspace.root) }
}

/// `-o` for commands whose output is data.
struct FormatOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Output format: text, json or yaml.")
    var output: OutputFormat = .text
}

func printStandardError(_ message: String) { printError(message) }

/// TLS for a listener (`controller --listen`, `agent`): a certificate and
/// key, and for mutual TLS the CA whose certificates clients must show.
struct TLSOptions: ParsableArguments {
    @Option(name: .customLong("tls-cert"), help: "Serve https with this PEM certificate chain (with --tls-key).", completion: .file())
    var certificate: String?

    @Option(name: .customLong("tls-key"), help: "The PEM private key of --tls-cert.", completion: .file())
    var key: String?

    @Option(
        name: .customLong("tls-client-ca"), help: "Require clients to present a certificate signed by this PEM CA (mutual TLS).",
        completion: .file())
    var clientCA: String?

    func files() throws -> TLSFiles? {
        switch (certificate, key) {
        case (nil, nil):
            if clientCA != nil { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
            return nil
        case (let certificate?, let key?):
            return TLSFiles(certificateChain: certificate, privateKey: key, clientCA: clientCA)
        default:
            throw ValidationError("--tls-cert and --tls-key go together")
        }
    }
}

/// Where data snapshots go besides this machine: `--snapshot-remote
/// s3://bucket/prefix` (default `$GANTRY_SNAPSHOT_REMOTE`), with
/// `--snapshot-endpoint` for an S3-compatible store; credentials from
/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
struct SnapshotOptions: ParsableArguments {
    @Option(name: .customLong("snapshot-remote"), help: "Push data snapshots to, and pull them from, s3://BUCKET/PREFIX (default: $GANTRY_SNAPSHOT_REMOTE).")
    var remote: String?

    @Option(
        name: .customLong("snapshot-endpoint"),
        help: "The snapshot remote's endpoint, for an S3-compatible store (default: $GANTRY_SNAPSHOT_ENDPOINT; AWS without).")
    var endpoint: String?

    @Option(name: .customLong("snapshot-region"), help: "The snapshot remote's region (default: us-east-1).")
    var region: String?

    func snapshotRemote() throws -> SnapshotRemote? {
        let environment = ProcessInfo.processInfo.environment
        guard let url = remote ?? environment["GANTRY_SNAPSHOT_REMOTE"], !url.isEmpty else { return nil }
        guard let remote = SnapshotRemote(url: url, endpoint: endpoint ?? environment["GANTRY_SNAPSHOT_ENDPOINT"], region: region) else {
            throw ValidationError("--snapshot-remote \(url): an s3://BUCKET/PREFIX URL")
        }
        return remote
    }
}
