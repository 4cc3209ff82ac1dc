import Foundation

@testable import Manifests

/// A valid project like the quickstart, as files in memory, that each test
/// breaks in one place.
enum Fixture {
    static let pipeline = """
        apiVersion: gantry.dev/v1alpha1
        kind: Pipeline
        metadata:
          name: churn-training
        spec:
          codePath: src
          params:
            epochs: 10
          steps:
            - name: prepare
              command: [python3, prep.py, --data, "${datasets.churn-data}", --out, "${outputs}"]
            - name: train
              dependsOn: [prepare]
              command: [python3, train.py, --in, "${steps.prepare}", --out, "${outputs}", --epochs, "${params.epochs}"]
              timeout: 10m
          artifact: { step: train, path: model.json }
          metrics: { step: train, path: metrics.json }

        """

    static let model = """
        apiVersion: gantry.dev/v1alpha1
        kind: Model
        metadata:
          name: churn
        spec:
          pipeline: churn-training
          datasets: [churn-data]
          target: local
          promotion:
            policy: manual
            gates: ["accuracy >= 0.8"]

        """

    static let dataAndDeployment = """
        apiVersion: gantry.dev/v1alpha1
        kind: Dataset
        metadata: { name: churn-data }
        spec:
          source: { path: data/churn.csv }
        ---
        apiVersion: gantry.dev/v1alpha1
        kind: Deployment
        metadata: { name: churn-prod }
        spec:
          model: churn
          version: 1
          address: 127.0.0.1:8700
          serve:
            command: [python3, serve.py, --model, "${artifact}", --port, "${port}"]
          targets: [{ target: local }]

        """

    static var files: [String: String] {
        ["pipeline.yaml": pipeline, "models/churn.yaml": model, "data.yaml": dataAndDeployment]
    }

    /// Decodes and assembles `files`, returning the diagnostics as text.
    static func diagnostics(_ files: [String: String]) -> [String] {
        let decoded = files.map { ManifestDecoder.decode(path: $0.key, bytes: Array($0.value.utf8)) }
        return ManifestSet.assemble(decoded).diagnostics.map(\.description)
    }

    /// The fixture with one file's text changed by `edit`.
    static func diagnostics(editing file: String, _ edit: (String) -> String) -> [String] {
        var files = self.files
        files[file] = edit(files[file]!)
        return diagnostics(files)
    }
}
