import ArgumentParser
import Foundation
import State
import Targets

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show, or follow, the output of a model's training steps on this machine.",
        discussion: """
            MODEL is the latest run of the model, including one still running;
            MODEL@N the run that made version N. Each step's log is shown under
            its name, or only --step's. With -f, new lines are printed as the
            steps write them until the run ends.

            With --server, reads the run on a running controller's machine (a
            viewer token in $GANTRY_TOKEN); -f then polls it every second.

            Examples:
              gantry logs churn -f
              gantry logs churn@3 --step evaluate
              GANTRY_TOKEN=… gantry logs churn -f --server https://gantry.internal:8443
            """)

    @OptionGroup var state: StateOptions
    @OptionGroup var read: ReadOptions
    @Argument(help: "MODEL or MODEL@VERSION.") var reference: String
    @Option(help: "Only this step's log.") var step: String?
    @Flag(name: [.customShort("f"), .customLong("follow")], help: "Follow the logs until the run ends.") var follow = false

    func run() async throws {
        if let server = read.server { return try await remote(server) }
        let run = try runDirectory()
        let tail = StepLogTail()
        var shown = false
        /// Prints what the step logs gained; a header names each log the
        /// first time, unless one step was asked for.
        func show() {
            let logs = StepLogTail.stepLogs(inRun: run).filter { step == nil || $0.hasSuffix("/" + step! + ".log") }
            for (path, fresh, data) in tail.read(logs) {
                if fresh, step == nil { Apply.say("==> \(((path as NSString).lastPathComponent as NSString).deletingPathExtension) (\(path)) <==") }
                if !data.isEmpty { FileHandle.standardOutput.write(data) }
                shown = true
            }
        }
        show()
        if !shown, !follow {
            printError("no \(step.map { "log of step \($0)" } ?? "step logs") in \(run)")
            throw ExitCode(1)
        }
        guard follow else { return }
        // Until the runner writes its result (then once more for the end).
        while !FileManager.default.fileExists(atPath: run + "/result.json") {
            show()
            try await Task.sleep(for: .milliseconds(200))
        }
        show()
    }

    /// The run directory `reference` names.
    func runDirectory() throws -> String {
        let (model, number) = try parsedReference()
        let runs = state.workspace.runs
        if let number {
            guard let version = try state.existingStore()?.version(model, number) else {
                throw ValidationError("no version \(number) of \(model) in \(state.directory)")
            }
            return state.workspace.run(model: model, digest: version.digest)
        }
        guard let newest = state.workspace.latestRun(of: model) else { throw ValidationError("no run of \(model) in \(runs)") }
        return newest
    }

    /// MODEL, or MODEL@N (MODEL@vN).
    func parsedReference() throws -> (model: String, number: Int?) {
        let parts = reference.split(separator: "@", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return (parts[0], nil) }
        guard let number = Int(parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "v"))) else {
            throw ValidationError("\(reference): MODEL@VERSION, such as churn@3")
        }
        return (parts[0], number)
    }

    /// What the controller's API serves of a run.
    struct RemoteRun: Decodable {
        struct Step: Decodable {
            var name: String
            var tail: String
            var size: Int64?
        }
        var run: String?
        var running: Bool?
        var steps: [Step]
    }

    /// The run as the controller at `server` has it; with -f, polled
    /// until it ends, printing only what each log gained.
    func remote(_ server: String) async throws {
        let client = try ServerOptions.client(for: server)
        let (model, number) = try parsedReference()
        let query = number.map { [("version", String($0))] } ?? []
        var printed: [String: Int64] = [:]
        while true {
            let run: RemoteRun
            do { run = try await client.get("/api/v1/models/\(model)/logs", query: query) } catch {
                printError("error: \(error)")
                throw ExitCode(1)
            }
            for log in run.steps where step == nil || log.name == step {
                let size = log.size ?? Int64(log.tail.utf8.count)
                let before = printed[log.name]
                if before == nil, step == nil { Apply.say("==> \(log.name) (\(run.run ?? "?") on the controller) <==") }
                let new = size - (before ?? 0)
                if new > 0 {
                    let bytes = Array(log.tail.utf8)
                    if new > Int64(bytes.count) { Apply.say("[… \(new - Int64(bytes.count)) bytes not shown …]") }
                    FileHandle.standardOutput.write(Data(bytes.suffix(Int(min(new, Int64(bytes.count))))))
                }
                printed[log.name] = size
            }
            guard follow, run.running == true else { return }
            try await Task.sleep(for: .seconds(1))
        }
    }
}
