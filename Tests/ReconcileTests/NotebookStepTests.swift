import Foundation
import GantryTestSupport
import Testing

@testable import Reconciler
@testable import State
@testable import Targets

/// Notebook steps, run by a real papermill with a real Python kernel.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct NotebookStepTests {
    /// The demo project trained by a notebook instead of train.py.
    func notebookProject(_ cells: [String]) async throws -> TestProject {
        let python = try await Peers.papermillPython()
        let project = try await TestProject(port: freePort())
        project.remove("manifests/deployment.yaml")
        project.write("src/notebooks/train.ipynb", Self.notebook(cells))
        project.write(
            "manifests/pipeline.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Pipeline
            metadata: { name: demo-training }
            spec:
              codePath: src
              params: { quality: 0.5, learning-rate: 0.1, note: "42", shuffle: true }
              steps:
                - name: train
                  notebook: { path: src/notebooks/train.ipynb, python: "\(python)" }
                  outputs: [model.json, metrics.json]
                  timeout: 2m
              artifact: { step: train, path: model.json }
              metrics: { step: train, path: metrics.json }
            """)
        try await project.commit("Train in a notebook")
        return project
    }

    /// An nbformat 4 notebook: a cell tagged `parameters` with defaults,
    /// then `cells`.
    static func notebook(_ cells: [String]) -> String {
        func cell(_ source: String, _ n: Int, tags: [String] = []) -> [String: Any] {
            [
                "cell_type": "code", "id": "cell-\(n)", "execution_count": NSNull(), "metadata": ["tags": tags],
                "outputs": [Any](), "source": source,
            ]
        }
        let parameters = "quality = 0.0\nlearning_rate = 0.0\nnote = \"\"\noutputs = \"\"\ndataset_rows = \"\""
        let document: [String: Any] = [
            "nbformat": 4, "nbformat_minor": 5,
            "metadata": [
                "kernelspec": ["name": "python3", "display_name": "Python 3", "language": "python"],
                "language_info": ["name": "python"],
            ],
            "cells": [cell(parameters, 0, tags: ["parameters"])] + cells.enumerated().map { cell($1, $0 + 1) },
        ]
        let data = try! JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    static let train = """
        import json, os
        with open(dataset_rows) as f:
            rows = f.read().splitlines()[1:]
        with open(os.path.join(outputs, "model.json"), "w") as f:
            json.dump({"rows": len(rows), "quality": quality, "learning_rate": learning_rate, "note": note}, f, sort_keys=True)
        with open(os.path.join(outputs, "metrics.json"), "w") as f:
            json.dump({"accuracy": quality, "rows": len(rows)}, f)
        print("trained on", len(rows), "rows")
        """

    @Test func aNotebookStepTrainsWithTheModelsParamsAndKeepsTheExecutedNotebook() async throws {
        let project = try await notebookProject([Self.train])
        let h = try Harness(project)

        let (_, report) = try await h.apply()
        #expect(report.result == .applied, "\(report.failed.map(\.error))")
        let version = try #require(try h.store.versions(of: "demo").first)
        #expect(version.number == 1)
        #expect(version.metricValues == ["accuracy": 0.9, "rows": 2])
        #expect(version.gatesPassed)
        let model = try String(contentsOfFile: version.artifactPath, encoding: .utf8)
        #expect(
            model == #"{"learning_rate": 0.1, "note": "42", "quality": 0.9, "rows": 2}"#,
            "numbers stay numbers, a quoted param stays a string")

        let outputs = h.workspace.run(model: "demo", digest: version.digest) + "/steps/train/outputs"
        let executed = try #require(FileManager.default.contents(atPath: outputs + "/train.executed.ipynb"))
        let cells = try #require((try JSONSerialization.jsonObject(with: executed) as? [String: Any])?["cells"] as? [[String: Any]])
        let injected = try #require(cells.first { (($0["metadata"] as? [String: Any])?["tags"] as? [String])?.contains("injected-parameters") == true })
        let source = Self.text(injected["source"])
        #expect(source.contains("quality = 0.9\n"), "\(source)")
        #expect(source.contains("learning_rate = 0.1\n"), "\(source)")
        #expect(source.contains("note = \"42\"\n"), "\(source)")
        #expect(source.contains("shuffle = True\n"), "\(source)")
        #expect(source.contains("outputs = \"\(outputs)\"\n"), "\(source)")
        #expect(source.contains("dataset_rows = \"\(h.workspace.checkout(version.commit))/data/rows.csv\"\n"), "\(source)")
        #expect(String(decoding: executed, as: UTF8.self).contains("trained on 2 rows"), "the executed notebook keeps its outputs")
        #expect(try await h.plan().actions.isEmpty)
    }

    @Test func aFailingCellFailsTheStepNamingItAndItsLog() async throws {
        let project = try await notebookProject(["raise ValueError('no rows to learn from')"])
        let h = try Harness(project)

        let (_, report) = try await h.apply()
        #expect(report.result == .failed)
        let error = try #require(report.failed.first?.error)
        #expect(error.hasPrefix("step train exited with code 1; log: "), "\(error)")
        #expect(error.contains("/steps/train.log"))
        #expect(error.contains("no rows to learn from"), "the log's tail shows the cell's error: \(error)")
        #expect(try h.store.versions(of: "demo").isEmpty)
        let runs = try FileManager.default.contentsOfDirectory(atPath: h.workspace.root + "/runs")
        let executed = try #require(runs.first.map { h.workspace.root + "/runs/\($0)/steps/train/outputs/train.executed.ipynb" })
        #expect(
            try String(contentsOfFile: executed, encoding: .utf8).contains("no rows to learn from"),
            "the executed notebook, error included, is kept for reading")
    }

    /// A notebook's `source`: a string, or a list of lines.
    static func text(_ source: Any?) -> String {
        (source as? String) ?? ((source as? [String])?.joined() ?? "")
    }
}
