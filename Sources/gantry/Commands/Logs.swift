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

            Examples:
              gantry logs churn -f
              gantry logs churn@3 --step evaluate
            """)

    @OptionGroup var state: StateOptions
    @Argument(help: "MODEL or MODEL@VERSION.") var reference: String
    @Option(help: "Only this step's log.") var step: String?
    @Flag(name: [.customShort("f"), .customLong("follow")], help: "Follow the logs until the run ends.") var follow = false

    func run() async throws {
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
        let parts = reference.split(separator: "@", maxSplits: 1).map(String.init)
        let model = parts[0]
        let runs = state.workspace.runs
        if parts.count == 2 {
            guard let number = Int(parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "v"))) else {
                throw ValidationError("\(reference): MODEL@VERSION, such as churn@3")
            }
            guard let version = try state.existingStore()?.version(model, number) else {
                throw ValidationError("no version \(number) of \(model) in \(state.directory)")
            }
            return state.workspace.run(model: model, digest: version.digest)
        }
        guard let newest = state.workspace.latestRun(of: model) else { throw ValidationError("no run of \(model) in \(runs)") }
        return newest
    }
}
