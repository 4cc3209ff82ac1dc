import Testing

@testable import Manifests

/// Problems that used to show only at apply, after a training had run:
/// each is now a validation error at the line of the field at fault.
@Suite struct CloudChecksTests {
    static let sagemaker = """
        apiVersion: gantry.dev/v1alpha1
        kind: Target
        metadata: { name: aws }
        spec:
          type: sagemaker
          endpoint: https://api.sagemaker.eu-west-1.amazonaws.com
          region: eu-west-1
          roleArn: arn:aws:iam::123456789012:role/gantry
          bucket: models

        """

    func diagnostics(_ edit: (inout [String: String]) -> Void) -> [String] {
        var files = Fixture.files
        files["aws.yaml"] = Self.sagemaker
        edit(&files)
        return Fixture.diagnostics(files)
    }

    @Test func aModelTrainingOnSageMakerWithAPathDatasetIsAnErrorAtTheDataset() {
        let d = diagnostics { $0["models/churn.yaml"] = $0["models/churn.yaml"]!.replacingOccurrences(of: "target: local", with: "target: aws") }
        #expect(
            d == [
                "models/churn.yaml:7:14: error: spec.datasets[0]: dataset \"churn-data\" is read from a path; a sagemaker training job (target aws) reads its datasets from S3 (spec.source.s3)"
            ])
    }

    @Test func aSecretInServeEnvOnSageMakerIsAnErrorAtTheVariable() {
        let d = diagnostics {
            $0["data.yaml"] = $0["data.yaml"]!
                .replacingOccurrences(
                    of: "    command: [python3, serve.py, --model, \"${artifact}\", --port, \"${port}\"]",
                    with: "    image: serve:1\n    env: { MODE: fast, API_KEY: { secret: { env: API_KEY } } }"
                )
                .replacingOccurrences(of: "targets: [{ target: local }]", with: "targets: [{ target: aws }]")
                .replacingOccurrences(of: "  address: 127.0.0.1:8700\n", with: "")
        }
        #expect(d.count == 1, "\(d)")
        #expect(d.first?.hasPrefix("data.yaml:15:33: error: spec.serve.env.API_KEY: a secret cannot be given to a SageMaker model") == true, "\(d)")
    }

    @Test func aCanaryOnSageMakerIsJudgedByACommandNotByCountsItCannotRead() {
        func canary(_ analysis: String) -> [String] {
            diagnostics {
                $0["data.yaml"] = $0["data.yaml"]!
                    .replacingOccurrences(of: "    command: [python3, serve.py, --model, \"${artifact}\", --port, \"${port}\"]", with: "    image: serve:1")
                    .replacingOccurrences(
                        of: "targets: [{ target: local }]",
                        with: "targets: [{ target: aws }]\n  strategy: { type: canary, steps: [10, 100], pause: 5m, analysis: \(analysis) }"
                    )
                    .replacingOccurrences(of: "  address: 127.0.0.1:8700\n", with: "")
            }
        }
        #expect(canary("{ command: [python3, eval.py, \"${address}\", \"${percent}\"] }") == [])
        let rate = canary("{ maxErrorRate: 0.01 }")
        #expect(rate.count == 1, "\(rate)")
        #expect(
            rate.first?.contains(
                "error: spec.strategy.analysis: an error rate or a latency is read by the forwarder of local and agent targets; aws is of type sagemaker, which has none"
            ) == true, "\(rate)")
        let metrics = canary("{ metrics: { gates: [\"e < 1\"] } }")
        #expect(
            metrics.count == 1
                && metrics.first?.contains("spec.strategy.analysis.metrics: a model server's metrics are read on local and agent targets") == true, "\(metrics)"
        )
    }

    @Test func aScheduleShorterThanAMinuteIsAnError() {
        let d = Fixture.diagnostics(editing: "models/churn.yaml") { $0 + "  triggers: { schedule: 500ms }\n" }
        #expect(
            d == ["models/churn.yaml:12:25: error: spec.triggers.schedule: a schedule of 500ms would retrain more often than once a minute; the shortest is 1m"]
        )
        #expect(Fixture.diagnostics(editing: "models/churn.yaml") { $0 + "  triggers: { schedule: 1m }\n" } == [])
    }

    @Test func aDurationBeyondTenYearsIsAnErrorNotACrash() {
        for huge in ["999999999999999999999999999d", "3651d", "1e400s"] {
            let d = Fixture.diagnostics(editing: "pipeline.yaml") { $0.replacingOccurrences(of: "timeout: 10m", with: "timeout: \(huge)") }
            #expect(
                d == [
                    "pipeline.yaml:15:16: error: spec.steps[1].timeout: invalid duration \"\(huge)\"; write a number with a unit, at most 3650d: 500ms, 30s, 10m, 2h, 1d"
                ])
        }
        #expect(TimeSpan(parsing: "3650d")?.duration == .seconds(3650 * 86400))
    }

    @Test func mutualTLSFieldsAreCheckedTogether() {
        func target(_ body: String) -> [String] {
            var files = Fixture.files
            files["node.yaml"] = "apiVersion: gantry.dev/v1alpha1\nkind: Target\nmetadata: { name: node }\nspec:\n" + body
            return Fixture.diagnostics(files)
        }
        #expect(
            target(
                """
                  type: agent
                  endpoint: https://node:7443
                  caFile: /etc/gantry/ca.pem
                  credentials: { token: { file: /t }, clientCertificate: { file: /c.pem }, clientKey: { file: /c.key } }

                """) == [])
        #expect(
            target(
                """
                  type: agent
                  endpoint: http://node:7443
                  caFile: ca.pem
                  credentials: { token: { file: /t }, clientCertificate: { env: CLIENT_PEM } }

                """) == [
                    "node.yaml:6:13: error: spec.endpoint: caFile and a client certificate need an https:// endpoint, found \"http://node:7443\"",
                    "node.yaml:7:11: error: spec.caFile: \"ca.pem\" is not absolute; caFile names a file on the machine that runs Gantry",
                    "node.yaml:8:16: error: spec.credentials: clientCertificate and clientKey go together: mutual TLS needs both",
                    "node.yaml:8:58: error: spec.credentials.clientCertificate: a client certificate or key is read by libcurl from a file: write { file: /path/to/pem }",
                ])
        #expect(
            target("  type: ray\n  endpoint: https://ray:8265\n  caFile: /ca.pem\n").contains {
                $0.contains("spec.caFile: \"caFile\" applies to agent targets, not ray")
            })
    }
}
