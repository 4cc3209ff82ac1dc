import YAML

/// Training steps as a DAG. Each step is a process (argv, never a shell) or a
/// notebook run through a kernel. Arguments may use `${params.NAME}`,
/// `${datasets.NAME}`, `${outputs}` (this step's output directory) and
/// `${steps.NAME}` (an earlier step's output directory, which must be in
/// `dependsOn`).
///
///     kind: Pipeline
///     metadata: { name: churn-training }
///     spec:
///       codePath: src
///       steps:
///         - name: train
///           command: [python3, train.py, --data, "${datasets.churn-data}", --out, "${outputs}"]
///       artifact: { step: train, path: model.json }
///       metrics: { step: train, path: metrics.json }
public struct PipelineSpec: Sendable, Hashable, Codable {
    /// The directory whose Git tree is the training code; its tree id is part
    /// of every version's lineage. Defaults to the project root.
    public var codePath: String?
    /// Parameter defaults; a Model's params override them.
    public var params: [String: ParamValue]?
    public var steps: [Step]
    /// The model artifact: a file or directory in one step's outputs.
    public var artifact: OutputRef
    /// A JSON object of numbers written by a step, used for gates and reports.
    public var metrics: OutputRef?
}

public struct Step: Sendable, Hashable, Codable {
    public var name: String
    public var command: Command?
    public var notebook: Notebook?
    /// Relative to the project root; defaults to `codePath`.
    public var workingDir: String?
    public var dependsOn: [String]?
    /// Files the step reads besides datasets and code, for caching.
    public var inputs: [String]?
    /// Files the step must leave in its output directory.
    public var outputs: [String]?
    public var env: [String: EnvValue]?
    public var timeout: TimeSpan?
}

public struct Notebook: Sendable, Hashable, Codable {
    public var path: String
    public var kernel: String?
    /// The interpreter that runs papermill: a command on `PATH` or an
    /// absolute path (a virtualenv's `bin/python`); `python3` when unset.
    public var python: String?
}

public struct OutputRef: Sendable, Hashable, Codable {
    public var step: String
    public var path: String
}

extension PipelineSpec {
    /// The first step that runs Python, with its program: a command whose
    /// program is a `python…`, or a notebook's interpreter. Its environment
    /// is what runtime capture and `triggers.runtime` look at.
    public var pythonStep: (program: String, step: Step)? {
        for step in steps {
            guard let program = step.command?.argv.first ?? step.notebook.map({ $0.python ?? "python3" }),
                program.split(separator: "/").last?.hasPrefix("python") == true
            else { continue }
            return (program, step)
        }
        return nil
    }
}
