import Foundation
import Manifests

/// A notebook step runs as papermill (`python -m papermill`), an argv like
/// any other step: papermill executes the notebook in a kernel and injects
/// the parameters as a cell after the one tagged `parameters`. The executed
/// notebook, with every cell's output, is written to the step's outputs, so
/// it stays with the run.
///
///     let argv = NotebookStep.argv(notebook, python: NotebookStep.python(notebook), project: checkout,
///                                  outputs: outputDirectory, params: lineage.params, datasets: ["churn-data": path])
///     // [python3, -m, papermill, …/explore.ipynb, …/outputs/explore.executed.ipynb, -k, python3, …, -p, epochs, 300, …]
enum NotebookStep {
    static let defaultKernel = "python3"

    /// The interpreter that runs papermill: the one the Pipeline names
    /// (`notebook.python`), else `python3` from the step's `PATH`.
    static func python(_ notebook: Notebook) -> String {
        if let python = notebook.python, !python.isEmpty { return python }
        return "python3"
    }

    /// `explore.ipynb` is executed into `explore.executed.ipynb`.
    static func executedName(_ path: String) -> String {
        let name = (path as NSString).lastPathComponent
        return (name.hasSuffix(".ipynb") ? String(name.dropLast(6)) : name) + ".executed.ipynb"
    }

    /// A name as a Python variable: `learning-rate` becomes `learning_rate`,
    /// because papermill writes each parameter as an assignment.
    static func variable(_ name: String) -> String { name.replacingOccurrences(of: "-", with: "_") }

    /// Parameters: the model's effective params, then `outputs` (the step's
    /// output directory) and `dataset_<name>` for each dataset. Numbers and
    /// booleans go through `-p`, which papermill turns back into numbers and
    /// booleans; text goes through `-r`, kept as it is, so a path or a
    /// quoted "42" stays a string.
    static func argv(
        _ notebook: Notebook, python: String, project: String, outputs: String,
        params: [String: ParamValue], datasets: [String: String]
    ) -> [String] {
        let input = (project as NSString).appendingPathComponent(notebook.path)
        let output = (outputs as NSString).appendingPathComponent(executedName(notebook.path))
        var argv = [
            python, "-m", "papermill", input, output, "-k", notebook.kernel ?? defaultKernel,
            "--no-progress-bar", "--log-output",
        ]
        for (name, value) in params.sorted(by: { $0.key < $1.key }) {
            switch value {
            case .bool(let b): argv += ["-p", variable(name), b ? "True" : "False"]
            case .int, .double: argv += ["-p", variable(name), value.description]
            case .string(let s): argv += ["-r", variable(name), s]
            }
        }
        argv += ["-r", "outputs", outputs]
        for (name, path) in datasets.sorted(by: { $0.key < $1.key }) {
            argv += ["-r", "dataset_" + variable(name), path]
        }
        return argv
    }
}
