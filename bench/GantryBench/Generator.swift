import Foundation

/// A synthetic ML repository of the size a large organisation keeps: many
/// teams' models and their deployments, a shared set of pipelines and
/// datasets, training code and committed data, and a history of commits.
/// Deterministic: the same shape always produces the same bytes.
///
///     services/team-07/svc-0123.yaml   10 Models, each followed by its Deployment
///     pipelines/pipelines-03.yaml      10 Pipelines
///     datasets/datasets-04.yaml        20 Datasets, each a committed CSV under data/
///     code/<pipeline>/                 the training and serving code of a pipeline
struct RepositoryShape {
    var models = 10_000
    var modelFiles = 1_000
    var deployments = true
    var pipelines = 100
    var datasets = 200
    /// Commits after the initial one, each a one-line edit.
    var history = 20

    var modelsPerFile: Int { max(1, models / modelFiles) }
    var teams: Int { 20 }

    func modelName(_ i: Int) -> String { "\(Self.families[i % Self.families.count])-\(String(format: "%05d", i))" }
    func pipelineName(_ p: Int) -> String { "\(Self.pipelineFamilies[p % Self.pipelineFamilies.count])-\(String(format: "%03d", p))" }
    func datasetName(_ d: Int) -> String { "\(Self.datasetFamilies[d % Self.datasetFamilies.count])-\(String(format: "%03d", d))" }
    func pipelineOf(model i: Int) -> Int { (i * 7) % pipelines }
    func file(ofModel i: Int) -> Int { i / modelsPerFile }
    func team(ofFile f: Int) -> Int { f % teams }
    func modelFilePath(_ f: Int) -> String { "services/team-\(String(format: "%02d", team(ofFile: f)))/svc-\(String(format: "%04d", f)).yaml" }

    static let families = ["churn", "fraud", "ranking", "forecast", "pricing", "search", "recsys", "vision", "nlp", "anomaly"]
    static let pipelineFamilies = ["tabular", "gbdt", "transformer", "cnn", "timeseries"]
    static let datasetFamilies = ["events", "transactions", "clicks", "images", "sessions", "inventory", "reviews", "sensors"]
}

/// Writes the repository's files and commits them.
struct Generator {
    var shape: RepositoryShape
    var directory: String

    /// Writes every file and the history. Returns the number of manifest bytes.
    func generate() throws -> Int {
        let fm = FileManager.default
        try? fm.removeItem(atPath: directory)
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Child.check(["git", "init", "-q", "-b", "main", directory])
        var manifestBytes = 0
        func write(_ path: String, _ text: String, manifest: Bool = true) throws {
            let full = directory + "/" + path
            try fm.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: false, encoding: .utf8)
            if manifest { manifestBytes += text.utf8.count }
        }
        try write("README.md", "# Models\n\nEvery team's models, the pipelines that train them and where they serve.\n", manifest: false)
        for f in stride(from: 0, to: shape.pipelines, by: 10) {
            try write(
                "pipelines/pipelines-\(String(format: "%02d", f / 10)).yaml",
                (f..<min(f + 10, shape.pipelines)).map(pipeline).joined(separator: "---\n"))
        }
        for f in stride(from: 0, to: shape.datasets, by: 20) {
            try write(
                "datasets/datasets-\(String(format: "%02d", f / 20)).yaml",
                (f..<min(f + 20, shape.datasets)).map(dataset).joined(separator: "---\n"))
        }
        for d in 0..<shape.datasets { try write("data/\(shape.datasetName(d)).csv", csv(d), manifest: false) }
        for p in 0..<shape.pipelines {
            let dir = "code/\(shape.pipelineName(p))"
            try write(dir + "/train.py", trainScript(p), manifest: false)
            try write(dir + "/serve.py", "# Serves a \(shape.pipelineName(p)) model over HTTP.\nimport sys\nprint(sys.argv)\n", manifest: false)
        }
        for f in 0..<shape.modelFiles { try write(shape.modelFilePath(f), modelFile(f, revision: 0)) }
        try Child.check(["git", "-C", directory, "add", "-A"])
        try Child.check(["git", "-C", directory, "commit", "-q", "-m", "Import every team's models"])
        for h in 1...max(1, shape.history) where shape.history > 0 {
            let f = (h * 37) % shape.modelFiles
            try editComment(file: f, revision: h)
            try Child.check(["git", "-C", directory, "commit", "-q", "-am", "Review \(shape.modelFilePath(f)) (revision \(h))"])
        }
        return manifestBytes
    }

    /// Rewrites a models file's first line, a comment: the file's blob
    /// changes, no object's meaning does.
    func editComment(file f: Int, revision: Int) throws {
        let path = directory + "/" + shape.modelFilePath(f)
        var text = try String(contentsOfFile: path, encoding: .utf8)
        let firstLine = text.firstIndex(of: "\n")!
        text.replaceSubrange(text.startIndex..<firstLine, with: "# \(shape.modelFilePath(f)), revision \(revision)")
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }

    /// Changes one model's `epochs` param by one: a one-line change that
    /// changes that model's lineage, so the plan retrains it.
    static func bumpEpochs(in path: String, model: String) throws {
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(of: "  name: \(model)"),
            let i = lines[start...].firstIndex(where: { $0.hasPrefix("    epochs: ") })
        else {
            throw ChildFailure(argv: ["edit", path], result: ChildResult(status: 1, stdout: "", stderr: "no epochs for \(model)"))
        }
        let value = Int(lines[i].dropFirst("    epochs: ".count))!
        lines[i] = "    epochs: \(value + 1)"
        try lines.joined(separator: "\n").write(toFile: path, atomically: false, encoding: .utf8)
    }

    func pipeline(_ p: Int) -> String {
        let name = shape.pipelineName(p)
        let a = shape.datasetName(2 * p % shape.datasets)
        let b = shape.datasetName((2 * p + 1) % shape.datasets)
        return """
            # \(name): prepares \(a) and \(b), trains, evaluates.
            apiVersion: gantry.dev/v1alpha1
            kind: Pipeline
            metadata:
              name: \(name)
              labels: { family: \(RepositoryShape.pipelineFamilies[p % RepositoryShape.pipelineFamilies.count]) }
            spec:
              codePath: code/\(name)
              params:
                epochs: \(50 + p)
                learning-rate: 0.01
                batch-size: 256
              steps:
                - name: prepare
                  command: [python3, prepare.py, --events, "${datasets.\(a)}", --labels, "${datasets.\(b)}", --out, "${outputs}"]
                  outputs: [train.parquet, test.parquet]
                  timeout: 20m
                - name: train
                  command: [python3, train.py, --data, "${steps.prepare}", --epochs, "${params.epochs}", --lr, "${params.learning-rate}", --out, "${outputs}"]
                  dependsOn: [prepare]
                  outputs: [model.bin, metrics.json]
                  env:
                    PYTHONUNBUFFERED: "1"
                    HF_TOKEN: { secret: { env: HF_TOKEN } }
                  timeout: 2h
              artifact: { step: train, path: model.bin }
              metrics: { step: train, path: metrics.json }

            """
    }

    func dataset(_ d: Int) -> String {
        let name = shape.datasetName(d)
        return """
            apiVersion: gantry.dev/v1alpha1
            kind: Dataset
            metadata:
              name: \(name)
            spec:
              description: Daily export of \(RepositoryShape.datasetFamilies[d % RepositoryShape.datasetFamilies.count]), shard \(d).
              source: { path: data/\(name).csv }

            """
    }

    func modelFile(_ f: Int, revision: Int) -> String {
        var out = "# \(shape.modelFilePath(f)), revision \(revision)\n"
        let first = f * shape.modelsPerFile
        for i in first..<min(first + shape.modelsPerFile, shape.models) {
            out += "---\n" + model(i)
            if shape.deployments { out += "---\n" + deployment(i) }
        }
        return out
    }

    func model(_ i: Int) -> String {
        let p = shape.pipelineOf(model: i)
        let a = shape.datasetName(2 * p % shape.datasets)
        let b = shape.datasetName((2 * p + 1) % shape.datasets)
        let gates = i % 5 == 0 ? "\n  promotion: { policy: manual, gates: [\"auc >= 0.8\"] }" : ""
        return """
            apiVersion: gantry.dev/v1alpha1
            kind: Model
            metadata:
              name: \(shape.modelName(i))
            spec:
              pipeline: \(shape.pipelineName(p))
              datasets: [\(a), \(b)]
              target: local
              params:
                epochs: \(10 + i % 90)
                learning-rate: 0.0\(1 + i % 9)\(gates)

            """
    }

    func deployment(_ i: Int) -> String {
        let health = i % 4 == 0 ? "\n  healthCheck: { path: /health, timeout: 30s }" : ""
        return """
            apiVersion: gantry.dev/v1alpha1
            kind: Deployment
            metadata: { name: \(shape.modelName(i))-prod }
            spec:
              model: \(shape.modelName(i))
              version: 1
              address: 127.0.0.1:\(20000 + i)
              serve: { command: [python3, serve.py, "${artifact}", "${port}"] }
              targets: [{ target: local }]\(health)

            """
    }

    func csv(_ d: Int) -> String {
        var out = "id,value,label\n"
        for r in 0..<40 { out += "\(r),\((r * 31 + d * 17) % 1000),\((r + d) % 2)\n" }
        return out
    }

    func trainScript(_ p: Int) -> String {
        "# Trains a \(shape.pipelineName(p)) model.\nimport argparse, json\nparser = argparse.ArgumentParser()\nparser.add_argument('--out')\nargs, _ = parser.parse_known_args()\n"
    }
}
