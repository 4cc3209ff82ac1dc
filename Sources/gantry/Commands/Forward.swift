import ArgumentParser
import Foundation
import StableAddress

/// The process that owns a Deployment's stable address. `apply` starts one
/// per Deployment, detached, so the address keeps answering after `apply`
/// exits and while versions are switched.
struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Forward a Deployment's stable address to its current backend (started by apply).",
        shouldDisplay: false)

    @Option(help: "The address to listen on, HOST:PORT.")
    var listen: String

    @Option(help: "The control directory holding the backend file.")
    var control: String

    func run() throws {
        guard let endpoint = Endpoint(parsing: listen) else {
            throw ValidationError("invalid --listen \(listen); expected HOST:PORT")
        }
        do {
            try Forwarder.run(listen: endpoint, control: ForwarderControl(directory: control))
        } catch {
            printError("gantry forward: \(error)")
            throw ExitCode(1)
        }
    }
}
