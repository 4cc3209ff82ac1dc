import Testing
import YAML

@testable import Manifests

/// The strict readers are a shortcut to what `YAMLDecoder` returns: for every
/// document they accept, the value must be the same, and every document
/// they decline still decodes (or fails) through `YAMLDecoder` as before.
@Suite struct StrictDecodingTests {
    static let documents = [
        Fixture.pipeline, Fixture.model,
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Model
        metadata: { name: fraud, labels: { team: risk }, annotations: { owner: "ana" } }
        spec:
          pipeline: p
          datasets: [a, b]
          target: local
          params: { epochs: 40, lr: 0.01, name: "40", deep: true, tag: v1, big: 1e3, off: FALSE }
          runtime: { python: "3.11" }
          triggers: { data: false, code: true, params: ~, schedule: 1h30m }
          promotion: { policy: auto, gates: ["auc >= 0.8"] }
        """,
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Deployment
        metadata: { name: churn-prod }
        spec:
          model: churn
          version: 3
          address: 127.0.0.1:8700
          serve:
            command: [python3, serve.py, "${artifact}"]
            workingDir: src
            env: { MODE: fast, HF_TOKEN: { secret: { env: HF_TOKEN } }, KEY: { secret: { file: /etc/key } } }
          targets: [{ target: local, replicas: 2 }, { target: gpu }]
          healthCheck: { path: /health, timeout: 30s, interval: 250ms }
          strategy: { type: canary, steps: [10, 50, 100], waves: [[a], [b, c]], pause: 5m }
          autoRollback: true
        """,
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Pipeline
        metadata: { name: nb }
        spec:
          steps:
            - name: explore
              notebook: { path: explore.ipynb, kernel: python3 }
              inputs: [a.csv]
              workingDir: notebooks
          artifact: { step: explore, path: out.bin }
        """,
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Dataset
        metadata: { name: s3-data }
        spec:
          description: objects
          source:
            s3:
              bucket: b
              key: data/
              region: eu-west-1
              endpoint: http://127.0.0.1:9000
              credentials: { accessKeyId: { env: AK }, secretAccessKey: { file: /run/sk } }
        """,
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Target
        metadata: { name: gpu }
        spec:
          type: agent
          endpoint: https://gpu:7443
          credentials: { token: { env: TOKEN } }
          capabilities: [train, serve]
        """,
    ]

    static func root(_ text: String) throws -> Node {
        try #require(try YAMLParser.parse(text, file: "t.yaml").first?.root)
    }

    /// Both ways of decoding `text` as `Object<Spec>`; the strict one may be nil.
    static func both<Spec: Codable & Sendable & Hashable>(
        _ text: String, _ read: (Node) -> Spec?
    ) throws -> (strict: Object<Spec>?, decoder: Object<Spec>?) {
        let node = try root(text)
        return (Object(strict: node, spec: read), try? YAMLDecoder().decode(Object<Spec>.self, from: node))
    }

    static func check(_ text: String) throws -> Bool? {
        let node = try root(text)
        switch node["kind"]?.scalar {
        case "Model":
            let r = try both(text, ModelSpec.init(strict:))
            #expect(r.strict == nil || r.strict == r.decoder)
            return r.strict != nil
        case "Deployment":
            let r = try both(text, DeploymentSpec.init(strict:))
            #expect(r.strict == nil || r.strict == r.decoder)
            return r.strict != nil
        case "Pipeline":
            let r = try both(text, PipelineSpec.init(strict:))
            #expect(r.strict == nil || r.strict == r.decoder)
            return r.strict != nil
        case "Dataset":
            let r = try both(text, DatasetSpec.init(strict:))
            #expect(r.strict == nil || r.strict == r.decoder)
            return r.strict != nil
        case "Target":
            let r = try both(text, TargetSpec.init(strict:))
            #expect(r.strict == nil || r.strict == r.decoder)
            return r.strict != nil
        default: return nil
        }
    }

    @Test func wellFormedDocumentsReadStrictlyGiveTheDecodersValue() throws {
        for text in Self.documents {
            #expect(try Self.check(text) == true, "declined: \(text)")
        }
    }

    @Test func anythingIrregularIsLeftToTheDecoder() throws {
        let edits: [(String, String)] = [
            ("target: local", "targte: local"),  // unknown field
            ("version: 3", "version: \"3\""),  // a quoted number is not an integer
            ("version: 3", "version: ~"),  // null where a value is required
            ("policy: auto", "policy: automatic"),  // not an enum value
            ("schedule: 1h30m", "schedule: soon"),  // not a duration
            ("command: [python3, serve.py, \"${artifact}\"]", "command: python3 serve.py"),
            ("command: [python3, serve.py, \"${artifact}\"]", "command: []"),
            ("{ env: HF_TOKEN }", "{ env: HF_TOKEN, file: /x }"),
            ("MODE: fast", "MODE: { env: X }"),
            ("name: fraud", "name: !!str fraud"),  // tags are the decoder's business
            ("epochs: 40", "epochs: [40]"),
            ("deep: true", "deep: ~"),
            ("replicas: 2", "replicas: 2.5"),
        ]
        for (from, to) in edits {
            let text = try #require(Self.documents.first { $0.contains(from) }, "no document has \(from)")
            let edited = text.replacingOccurrences(of: from, with: to)
            #expect(try Self.check(edited) == false, "accepted \(to)")
        }
    }

    @Test func diagnosticsForIrregularDocumentsAreTheDecodersOwn() {
        let d = Fixture.diagnostics(editing: "data.yaml") { $0.replacingOccurrences(of: "version: 1", with: "version: \"1\"") }
        #expect(d == ["data.yaml:12:12: error: spec.version: expected an integer, found string \"1\""])
    }
}
