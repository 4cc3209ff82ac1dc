import Testing

@testable import Manifests

/// Manifests written to make Gantry misbehave: each is refused at the
/// field at fault, with the offending text shortened.
@Suite struct HostileManifestTests {
    @Test func pathsThatLeaveTheProjectAreErrorsWhereverAPathIsWritten() {
        let d = Fixture.diagnostics(editing: "pipeline.yaml") {
            $0.replacingOccurrences(of: "codePath: src", with: "codePath: ../../..")
                .replacingOccurrences(
                    of: "  - name: prepare\n",
                    with: "  - name: prepare\n      workingDir: /etc\n      inputs: [src/../../x]\n      outputs: [../../../../tmp/out]\n"
                )
                .replacingOccurrences(of: "artifact: { step: train, path: model.json }", with: "artifact: { step: train, path: ../../../../etc/passwd }")
                .replacingOccurrences(of: "metrics: { step: train, path: metrics.json }", with: "metrics: { step: train, path: /proc/self/environ }")
        }
        #expect(
            d == [
                "pipeline.yaml:6:13: error: spec.codePath: \"../../..\" leaves the project (..)",
                "pipeline.yaml:11:19: error: spec.steps[0].workingDir: \"/etc\" is absolute; write it relative to the project",
                "pipeline.yaml:12:16: error: spec.steps[0].inputs[0]: \"src/../../x\" leaves the project (..)",
                "pipeline.yaml:13:17: error: spec.steps[0].outputs[0]: \"../../../../tmp/out\" leaves the step's outputs (..)",
                "pipeline.yaml:19:34: error: spec.artifact.path: \"../../../../etc/passwd\" leaves the step's outputs (..)",
                "pipeline.yaml:20:33: error: spec.metrics.path: \"/proc/self/environ\" is absolute; write it relative to the step's outputs",
            ], "\(d)")
        let data = Fixture.diagnostics(editing: "data.yaml") { $0.replacingOccurrences(of: "path: data/churn.csv", with: "path: ../../home") }
        #expect(data == ["data.yaml:5:19: error: spec.source.path: \"../../home\" leaves the project (..)"])
        #expect(
            Fixture.diagnostics(editing: "data.yaml") { $0.replacingOccurrences(of: "path: data/churn.csv", with: "path: /srv/data") } == [],
            "an absolute dataset path is documented: data outside Git")
        let serve = Fixture.diagnostics(editing: "data.yaml") {
            $0.replacingOccurrences(of: "    command: [python3, serve.py", with: "    workingDir: a/../../b\n    command: [python3, serve.py")
        }
        #expect(serve == ["data.yaml:15:17: error: spec.serve.workingDir: \"a/../../b\" leaves the project (..)"])
    }

    @Test func environmentNamesThatNoProcessCanHaveAreErrors() {
        let d = Fixture.diagnostics(editing: "pipeline.yaml") {
            $0.replacingOccurrences(of: "      timeout: 10m\n", with: "      timeout: 10m\n      env: { \"A=B\": x, \"\": y, 9LIVES: z, GOOD_1: w }\n")
        }
        #expect(d.count == 3, "\(d)")
        for name in ["A=B", "", "9LIVES"] {
            #expect(d.contains { $0.hasSuffix("invalid environment variable name \"\(name)\"; use letters, digits and '_', not starting with a digit") })
        }
    }

    @Test func aNumberTaggedAsTextIsNotANumber() {
        let d = Fixture.diagnostics(editing: "data.yaml") { $0.replacingOccurrences(of: "version: 1", with: "version: !!str 1") }
        #expect(d == ["data.yaml:12:12: error: spec.version: expected an integer, found str \"1\" (tagged !!str)"])
    }

    @Test func anUnterminatedPlaceholderIsATypoNotALiteral() {
        let fixed = Fixture.diagnostics(editing: "pipeline.yaml") {
            $0.replacingOccurrences(of: "--out, \"${outputs}\"]\n    - name: train", with: "--out, \"${outputs\"]\n    - name: train")
        }
        #expect(fixed == ["pipeline.yaml:11:76: error: spec.steps[0].command[5]: \"${outputs\" has no closing }"], "\(fixed)")
    }

    @Test func aHugeNameIsShortenedInItsError() {
        let name = String(repeating: "a", count: 1_000_000)
        let d = Fixture.diagnostics(editing: "models/churn.yaml") {
            $0.replacingOccurrences(of: "pipeline: churn-training", with: "pipeline: \(name)")
                .replacingOccurrences(of: "  name: churn\n", with: "  name: \(name)\n")
        }
        #expect(d.allSatisfy { $0.utf8.count < 400 }, "errors quote at most 80 characters of a value: \(d.map { $0.prefix(300) })")
        #expect(d.contains { $0.contains("metadata.name: name \"\(String(repeating: "a", count: 77))...\" is longer than 63 characters") })
    }

    @Test func aThousandObjectsOfOneNameAreEachReportedAgainstTheFirst() {
        let doc = "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata: { name: same }\nspec:\n  source: { path: data.csv }\n"
        let d = Fixture.diagnostics(["same.yaml": Array(repeating: doc, count: 1000).joined(separator: "---\n")])
        #expect(d.count == 999)
        #expect(d.last == "same.yaml:5997:19: error: metadata.name: duplicate Dataset \"same\" (first defined at same.yaml:3:19)")
    }

    @Test func aStageNamesAnEarlierDeploymentOfTheSameModelAndTheStagesEnd() {
        func stage(_ promotion: String, extra: String = "") -> [String] {
            var files = Fixture.files
            files["stages.yaml"] =
                Fixture.dataAndDeployment.components(separatedBy: "---\n")[1]
                .replacingOccurrences(of: "name: churn-prod", with: "name: churn-next")
                .replacingOccurrences(of: "8700", with: "8701")
                + "  promotion: \(promotion)\n" + extra
            return Fixture.diagnostics(files)
        }
        #expect(stage("{ from: churn-prod, soak: 1h, gates: [\"accuracy >= 0.9\"] }") == [])
        #expect(
            stage("{ from: churn-prd }").contains { $0.hasPrefix("stages.yaml:") && $0.contains("spec.promotion.from: no Deployment named \"churn-prd\"") },
            "\(stage("{ from: churn-prd }"))")
        #expect(stage("{ from: churn-next }").contains { $0.contains("spec.promotion.from: a Deployment cannot take its version from itself") })
        #expect(stage("{ from: churn-prod, gates: [\"accuracy > high\"] }").contains { $0.contains("spec.promotion.gates[0]: a gate is METRIC OP NUMBER") })
        #expect(stage("{ from: churn-prod, soak: soon }").contains { $0.contains("spec.promotion.soak") })
        let loop = Fixture.diagnostics(
            Fixture.files.merging(["data.yaml": Fixture.dataAndDeployment + "  promotion: { from: churn-next }\n"]) { $1 }
                .merging([
                    "stages.yaml": Fixture.dataAndDeployment.components(separatedBy: "---\n")[1]
                        .replacingOccurrences(of: "name: churn-prod", with: "name: churn-next").replacingOccurrences(of: "8700", with: "8701")
                        + "  promotion: { from: churn-prod }\n"
                ]) { $1 })
        #expect(loop.contains { $0.contains("spec.promotion.from: the stages loop back to") }, "\(loop)")
    }

    @Test func aModelServersMetricsAreReadOnLocalAndAgentTargetsOnly() {
        var files = Fixture.files
        files["targets.yaml"] = """
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: node }
            spec: { type: agent, endpoint: "http://node:7443", credentials: { token: { env: T } } }
            ---
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: ray }
            spec: { type: ray, endpoint: "http://ray:8265", storage: /shared }
            """
        let gated = "  strategy: { type: waves, waves: [[local], [TARGET]], pause: 1s, analysis: { metrics: { gates: [\"e < 1\"] } } }"
        func diagnostics(_ target: String) -> [String] {
            files["data.yaml"] = Fixture.dataAndDeployment.replacingOccurrences(
                of: "targets: [{ target: local }]",
                with: "targets: [{ target: local }, { target: \(target) }]\n" + gated.replacingOccurrences(of: "TARGET", with: target)
            )
            .replacingOccurrences(of: "  serve:\n", with: "  serve:\n    importPath: app:build\n")
            return Fixture.diagnostics(files)
        }
        #expect(!diagnostics("node").contains { $0.contains("analysis.metrics") }, "\(diagnostics("node"))")
        let ray = diagnostics("ray")
        #expect(
            ray.contains {
                $0.hasPrefix("data.yaml:")
                    && $0.contains("spec.strategy.analysis.metrics: a model server's metrics are read on local and agent targets")
                    && $0.contains("on ray targets use analysis.command")
            },
            "\(ray)")
    }

    @Test func aWaveErrorRateNeedsAForwarderOnEveryTarget() {
        var files = Fixture.files
        files["ray.yaml"] = """
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: ray }
            spec: { type: ray, endpoint: "http://ray:8265", storage: /shared }
            """
        let waves = "  strategy: { type: waves, waves: [[local], [ray]], pause: 1s, analysis: ANALYSIS }"
        func diagnostics(_ analysis: String) -> [String] {
            files["data.yaml"] = Fixture.dataAndDeployment
                .replacingOccurrences(of: "targets: [{ target: local }]", with: "targets: [{ target: local }, { target: ray }]\n" + waves)
                .replacingOccurrences(of: "ANALYSIS", with: analysis)
                .replacingOccurrences(of: "  serve:\n", with: "  serve:\n    importPath: app:build\n")
            return Fixture.diagnostics(files)
        }
        let rate = diagnostics("{ maxErrorRate: 0.05 }")
        #expect(
            rate.contains {
                $0.hasPrefix("data.yaml:")
                    && $0.contains("spec.strategy.analysis: an error rate or a latency is read by the forwarder of local and agent targets; ray is of type ray")
            }, "\(rate)")
        let command = diagnostics("{ command: [python3, eval.py, \"${address}\", \"${target}\", \"${wave}\"] }")
        #expect(command.isEmpty, "an evaluation command judges any target: \(command)")
    }

    @Test func freezeNeedsAutoRollbackOnEveryStrategy() {
        for strategy in ["{ type: canary, steps: [10, 100], pause: 1m, onFailure: freeze }", "{ type: waves, waves: [[local]], onFailure: freeze }"] {
            func diagnostics(_ autoRollback: String) -> [String] {
                Fixture.diagnostics(editing: "data.yaml") {
                    $0.replacingOccurrences(of: "targets: [{ target: local }]", with: "targets: [{ target: local }]\n  strategy: \(strategy)\n" + autoRollback)
                }
            }
            #expect(diagnostics("  autoRollback: true").isEmpty, "\(strategy): \(diagnostics("  autoRollback: true"))")
            let without = diagnostics("")
            #expect(
                without.contains { $0.hasPrefix("data.yaml:") && $0.contains("spec.strategy.onFailure: onFailure chooses what autoRollback does") },
                "\(strategy): \(without)")
        }
    }

    @Test func aCanaryKnobNothingActsOnIsAnErrorAtItsLine() {
        let cases: [(String, String)] = [
            ("{ type: canary, steps: [10, 100] }", "spec.strategy.pause: a canary needs a pause"),
            (
                "{ type: all-at-once, analysis: { command: [check] } }",
                "spec.strategy.analysis: analysis judges each step of a canary or each wave; an all-at-once rollout has none"
            ),
            (
                "{ type: waves, waves: [[local]], analysis: { maxErrorRate: 0.1 } }",
                "spec.strategy.pause: an error rate or a latency is read over each wave's pause"
            ),
            (
                "{ type: waves, waves: [[local]], analysis: { command: [check, \"${port}\"] } }",
                "spec.strategy.analysis.command[1]: unknown placeholder ${port}; expected one of ${address}, ${version}, ${percent}, ${model}, ${target}, ${wave}"
            ),
            ("{ type: all-at-once, pause: 10s }", "spec.strategy.pause: an all-at-once rollout has one step"),
            ("{ type: all-at-once, onFailure: freeze }", "spec.strategy.onFailure: onFailure chooses what autoRollback does"),
            ("{ type: all-at-once, onFailure: thaw }", "spec.strategy.onFailure"),
            (
                "{ type: canary, steps: [10, 100], pause: 1s, analysis: { maxErrorRate: 5 } }",
                "spec.strategy.analysis.maxErrorRate: an error rate is a share between 0 and 1"
            ),
            (
                "{ type: canary, steps: [10, 100], pause: 1s, analysis: { minRequests: 0, maxErrorRate: 0.1 } }",
                "spec.strategy.analysis.minRequests: minRequests must be at least 1"
            ),
            ("{ type: canary, steps: [10, 100], pause: 1s, analysis: { minRequests: 5 } }", "spec.strategy.analysis: an analysis judges something"),
            (
                "{ type: canary, steps: [10, 100], pause: 1s, analysis: { command: [check, \"${port}\"] } }",
                "spec.strategy.analysis.command[1]: unknown placeholder ${port}"
            ),
            (
                "{ type: canary, steps: [10, 100], pause: 1s, analysis: { metrics: { gates: [\"errors > lots\"] } } }",
                "spec.strategy.analysis.metrics.gates[0]: a gate is METRIC OP NUMBER"
            ),
            (
                "{ type: canary, steps: [10, 100], pause: 1s, analysis: { metrics: { path: metrics, gates: [\"e < 1\"] } } }",
                "spec.strategy.analysis.metrics.path: a metrics path starts with /"
            ),
            ("{ type: canary, steps: [10, 100], pause: 1s, analysis: { maxErrorRate: \"0.1\" } }", "spec.strategy.analysis.maxErrorRate"),
        ]
        for (strategy, expected) in cases {
            let d = Fixture.diagnostics(editing: "data.yaml") {
                $0.replacingOccurrences(of: "targets: [{ target: local }]", with: "targets: [{ target: local }]\n  strategy: \(strategy)")
            }
            #expect(d.contains { $0.contains(expected) && $0.hasPrefix("data.yaml:") }, "\(strategy): \(d)")
        }
    }

    @Test func whatGantryDoesNotActOnYetIsAnErrorNotASilentNoOp() {
        let d = Fixture.diagnostics(editing: "data.yaml") {
            $0.replacingOccurrences(
                of: "targets: [{ target: local }]",
                with:
                    "targets: [{ target: local, replicas: 3 }, { target: other }]\n  strategy: { type: canary, steps: [10, 100], pause: 1m }\n  autoRollback: true"
            )
        }
        for expected in [
            "spec.strategy.type: a canary splits one address's traffic on one target; with 2 targets use type: waves"
        ] {
            #expect(d.contains { $0.contains(expected) }, "\(expected) in \(d)")
        }
        // What Gantry does is accepted: all at once or in waves, rolled back
        // or not, one server per target.
        for accepted in [
            "targets: [{ target: local, replicas: 1 }]\n  strategy: { type: all-at-once }\n  autoRollback: false",
            "targets: [{ target: local, replicas: 3 }]",
            "targets: [{ target: local }]\n  strategy: { type: waves, waves: [[local]] }\n  autoRollback: true",
            "targets: [{ target: local }]\n  strategy: { type: waves, waves: [[local]], pause: 30s }",
            "targets: [{ target: local }]\n  strategy: { type: canary, steps: [10, 50, 100], pause: 30s, analysis: { maxErrorRate: 0.05, maxLatencyP99: 500ms, minRequests: 50, maxDuration: 10m } }\n  autoRollback: true",
        ] {
            #expect(Fixture.diagnostics(editing: "data.yaml") { $0.replacingOccurrences(of: "targets: [{ target: local }]", with: accepted) } == [])
        }
    }

    @Test func aStrategyKnobTheStrategyDoesNotUseIsAnError() {
        let d = Fixture.diagnostics(editing: "data.yaml") {
            $0.replacingOccurrences(
                of: "targets: [{ target: local }]",
                with: "targets: [{ target: local }]\n  strategy: { type: all-at-once, steps: [50, 100], waves: [[local]] }")
        }
        #expect(d.contains { $0.contains("spec.strategy.steps: steps are traffic percentages of a canary; a all-at-once rollout has none") }, "\(d)")
        #expect(d.contains { $0.contains("spec.strategy.waves: waves belong to type: waves; a all-at-once rollout has none") }, "\(d)")
    }

    @Test func aTargetsOwnAddressIsCheckedAndAppliesOnlyWhereGantryForwardsIt() {
        let d = Fixture.diagnostics(editing: "data.yaml") {
            $0.replacingOccurrences(of: "targets: [{ target: local }]", with: "targets: [{ target: local, address: \"nowhere\" }]")
        }
        #expect(d.contains { $0.contains("spec.targets[0].address: expected HOST:PORT such as 127.0.0.1:8700, found \"nowhere\"") }, "\(d)")
    }

    /// A Ray Target named `cluster`, as a document to append to a file.
    static let rayCluster = """

        ---
        apiVersion: gantry.dev/v1alpha1
        kind: Target
        metadata: { name: cluster }
        spec: { type: ray, endpoint: "http://127.0.0.1:8265", storage: /tmp/ray-storage }
        """

    @Test func anAddressOnATargetWithoutAForwarderAndASecondLocalTargetAreErrors() {
        let targets =
            Self.rayCluster + """

                ---
                apiVersion: gantry.dev/v1alpha1
                kind: Target
                metadata: { name: here }
                spec: { type: local }
                """
        let d = Fixture.diagnostics(editing: "data.yaml") {
            $0.replacingOccurrences(
                of: "targets: [{ target: local }]",
                with: "targets: [{ target: local }, { target: cluster, address: \"127.0.0.1:9000\" }, { target: here }]"
            ) + targets
        }
        #expect(
            d.contains {
                $0.contains("spec.targets[1].address: an address applies to local and agent targets, where Gantry forwards it; a ray target has its own")
            }, "\(d)")
        #expect(d.contains { $0.contains("spec.targets[2].target: a second local target is this machine again") }, "\(d)")
    }

    @Test func aLocalTargetWithoutAnAddressAndAnAddressNothingForwardsAreErrors() {
        let missing = Fixture.diagnostics(editing: "data.yaml") { $0.replacingOccurrences(of: "  address: 127.0.0.1:8700\n", with: "") }
        #expect(
            missing.contains {
                $0.contains("spec.targets[0]: serving on local target local needs a stable address: set spec.address or spec.targets[0].address")
            }, "\(missing)")
        let unused = Fixture.diagnostics(editing: "data.yaml") {
            $0.replacingOccurrences(of: "targets: [{ target: local }]", with: "targets: [{ target: cluster }]") + Self.rayCluster
        }
        #expect(
            unused.contains {
                $0.contains("spec.address: an address applies to local and agent targets, where Gantry forwards it; ray targets have their own")
            },
            "\(unused)")
    }
}
