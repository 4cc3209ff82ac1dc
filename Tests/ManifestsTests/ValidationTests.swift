import Testing

@testable import Manifests

@Suite struct ValidationTests {
    @Test func theFixtureIsValid() {
        #expect(Fixture.diagnostics(Fixture.files) == [])
        let decoded = Fixture.files.map { ManifestDecoder.decode(path: $0.key, bytes: Array($0.value.utf8)) }
        let set = ManifestSet.assemble(decoded).set
        #expect(set.count == 4)
        #expect(set.pipelines["churn-training"]?.spec.steps[1].timeout?.seconds == 600)
    }

    @Test func aMisspelledReferenceIsReportedAtItsLineWithASuggestion() {
        let d = Fixture.diagnostics(editing: "models/churn.yaml") {
            $0.replacingOccurrences(of: "pipeline: churn-training", with: "pipeline: churn-train")
        }
        #expect(d == ["models/churn.yaml:6:13: error: spec.pipeline: no Pipeline named \"churn-train\" (did you mean \"churn-training\"?)"])
    }

    @Test func everyProblemIsListedNotJustTheFirst() {
        var files = Fixture.files
        files["models/churn.yaml"] = files["models/churn.yaml"]!.replacingOccurrences(of: "target: local", with: "target: gpu")
        files["data.yaml"] = files["data.yaml"]!.replacingOccurrences(of: "model: churn", with: "model: fraud")
        let d = Fixture.diagnostics(files)
        #expect(d.count == 2)
        #expect(d.contains { $0.hasPrefix("data.yaml:11:10: error: spec.model: no Model named \"fraud\"") })
        #expect(d.contains { $0.contains("spec.target: no Target named \"gpu\"") })
    }

    @Test func unknownFieldsNameTheFileLineAndSuggestion() {
        let d = Fixture.diagnostics(editing: "models/churn.yaml") {
            $0.replacingOccurrences(of: "  target: local", with: "  targte: local")
        }
        #expect(d == ["models/churn.yaml:8:3: error: spec.targte: unknown field \"targte\" (did you mean \"target\"?)"])
    }

    @Test func aStringCommandIsRefusedBecauseNoShellRunsIt() {
        let d = Fixture.diagnostics(editing: "pipeline.yaml") {
            $0.replacingOccurrences(
                of: "command: [python3, prep.py, --data, \"${datasets.churn-data}\", --out, \"${outputs}\"]",
                with: "command: python3 prep.py")
        }
        #expect(
            d == [
                "pipeline.yaml:11:16: error: spec.steps[0].command: a command is a list of arguments, not a string: no shell runs it; write [\"python3\", \"prep.py\"]"
            ])
    }

    @Test func stepCyclesAreFound() {
        let d = Fixture.diagnostics(editing: "pipeline.yaml") {
            $0.replacingOccurrences(of: "  - name: prepare\n", with: "  - name: prepare\n      dependsOn: [train]\n")
        }
        #expect(d.contains { $0.contains("spec.steps: steps form a cycle: prepare -> train -> prepare") })
    }

    @Test func inlineSecretsAreErrors() {
        let d = Fixture.diagnostics(editing: "pipeline.yaml") {
            $0.replacingOccurrences(of: "      timeout: 10m\n", with: "      timeout: 10m\n      env:\n        HF_TOKEN: hf_abc123\n")
        }
        #expect(d.count == 1)
        #expect(d[0].contains("spec.steps[1].env.HF_TOKEN: HF_TOKEN looks like a secret written inline"))
        #expect(!d[0].contains("hf_abc123"))

        let target = """
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: ray }
            spec:
              type: ray
              endpoint: http://127.0.0.1:8265
              credentials:
                token: s3cr3t
            """
        var files = Fixture.files
        files["target.yaml"] = target
        let t = Fixture.diagnostics(files)
        #expect(t.count == 1)
        #expect(t[0].hasPrefix("target.yaml:8:12: error: spec.credentials.token: secret written inline"))
        #expect(!t[0].contains("s3cr3t"))
    }

    @Test func namesFollowDNS1123() {
        let d = Fixture.diagnostics(editing: "models/churn.yaml") {
            $0.replacingOccurrences(of: "name: churn\n", with: "name: Churn_Model\n")
        }
        #expect(d.contains { $0.hasPrefix("models/churn.yaml:4:9: error: metadata.name: invalid name \"Churn_Model\"") })
    }

    @Test func duplicateNamesPerKindPointAtTheFirstDefinition() {
        var files = Fixture.files
        files["models/copy.yaml"] = Fixture.model
        let d = Fixture.diagnostics(files)
        #expect(d == ["models/copy.yaml:4:9: error: metadata.name: duplicate Model \"churn\" (first defined at models/churn.yaml:4:9)"])
    }

    @Test func placeholdersMustBeSatisfiable() {
        let d = Fixture.diagnostics(editing: "pipeline.yaml") {
            $0.replacingOccurrences(of: "\"${params.epochs}\"", with: "\"${params.epoch}\"")
                .replacingOccurrences(of: "\"${steps.prepare}\"", with: "\"${stepz.prepare}\"")
        }
        #expect(d.contains { $0.contains("spec.steps[1].command[3]: unknown placeholder ${stepz.prepare}") })
        #expect(
            d.contains {
                $0.contains(
                    "spec.params: pipeline \"churn-training\" step \"train\" uses ${params.epoch}, which neither the pipeline nor this model sets (did you mean \"epochs\"?)"
                )
            })
    }

    @Test func enumsAndDurationsAndGatesAreChecked() {
        let d = Fixture.diagnostics(editing: "models/churn.yaml") {
            $0.replacingOccurrences(of: "policy: manual", with: "policy: automatic")
                .replacingOccurrences(of: "accuracy >= 0.8", with: "accuracy at least 0.8")
        }
        #expect(d == ["models/churn.yaml:10:13: error: spec.promotion.policy: unknown value \"automatic\"; expected one of: manual, auto"])
        let g = Fixture.diagnostics(editing: "models/churn.yaml") {
            $0.replacingOccurrences(of: "accuracy >= 0.8", with: "accuracy at least 0.8")
        }
        #expect(g.count == 1)
        #expect(g[0].contains("spec.promotion.gates[0]: invalid gate"))
        let t = Fixture.diagnostics(editing: "pipeline.yaml") { $0.replacingOccurrences(of: "timeout: 10m", with: "timeout: ten") }
        #expect(
            t == [
                "pipeline.yaml:15:16: error: spec.steps[1].timeout: invalid duration \"ten\"; write a number with a unit, at most 3650d: 500ms, 30s, 10m, 2h, 1d"
            ])
    }

    @Test func otherToolsYAMLIsIgnoredButAWrongVersionIsNot() {
        var files = Fixture.files
        files[".github/ci.yaml"] = "on: push\njobs: {}\n"
        files["k8s.yaml"] = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"
        #expect(Fixture.diagnostics(files) == [])
        files["k8s.yaml"] = "apiVersion: gantry.dev/v2\nkind: Model\n"
        #expect(Fixture.diagnostics(files) == ["k8s.yaml:1:13: error: apiVersion: unsupported apiVersion \"gantry.dev/v2\"; expected gantry.dev/v1alpha1"])
        files["k8s.yaml"] = "apiVersion: gantry.dev/v1alpha1\nkind: Modle\n"
        #expect(Fixture.diagnostics(files)[0].contains("unknown kind \"Modle\" (did you mean \"Model\"?)"))
    }

    @Test func syntaxErrorsBecomeDiagnostics() {
        let d = Fixture.diagnostics(editing: "data.yaml") {
            $0.replacingOccurrences(of: "source: { path: data/churn.csv }", with: "source: { path: data/churn.csv")
        }
        #expect(d.count == 1)
        #expect(d[0].hasPrefix("data.yaml:"))
        #expect(d[0].contains("error: "))
    }

    @Test func targetsNeedEndpointsAndCapabilities() {
        var files = Fixture.files
        files["targets.yaml"] = """
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: serve-only }
            spec:
              type: agent
              capabilities: [serve]
            """
        files["models/churn.yaml"] = Fixture.model.replacingOccurrences(of: "target: local", with: "target: serve-only")
        let d = Fixture.diagnostics(files)
        #expect(d.contains { $0.contains("spec.endpoint: missing required field \"endpoint\" for a agent target") })
        #expect(d.contains { $0.contains("spec.target: target \"serve-only\" does not allow train") })
    }
}

@Suite struct SecretNameTests {
    @Test func credentialWordsAreMatchedAsWholeWords() {
        #expect(EnvValue.looksSecret("HF_TOKEN"))
        #expect(EnvValue.looksSecret("aws_secret_access_key"))
        #expect(EnvValue.looksSecret("OPENAI_API_KEY"))
        #expect(EnvValue.looksSecret("DB_PASSWORD"))
        #expect(!EnvValue.looksSecret("TOKENIZERS_PARALLELISM"))
        #expect(!EnvValue.looksSecret("KEYBOARD_LAYOUT"))
        #expect(!EnvValue.looksSecret("PYTHONUNBUFFERED"))
    }

    @Test func aSecretReferenceWithoutItsWrapperSaysHowToWriteIt() {
        let d = Fixture.diagnostics(editing: "pipeline.yaml") {
            $0.replacingOccurrences(of: "      timeout: 10m\n", with: "      timeout: 10m\n      env:\n        HF_TOKEN: { env: HF_TOKEN }\n")
        }
        #expect(
            d == ["pipeline.yaml:17:19: error: spec.steps[1].env.HF_TOKEN: a secret in env is written { secret: { env: NAME } } or { secret: { file: PATH } }"])
    }

    @Test func aMisspelledGantryAPIGroupIsNotSilentlyIgnored() {
        var files = Fixture.files
        files["x.yaml"] = "apiVersion: gantry.io/v1alpha1\nkind: Model\nmetadata: {name: x}\n"
        #expect(Fixture.diagnostics(files) == ["x.yaml:1:13: error: apiVersion: unknown API group in \"gantry.io/v1alpha1\"; expected gantry.dev/v1alpha1"])
    }

    @Test func aTargetListedTwiceIsAnError() {
        let d = Fixture.diagnostics(editing: "data.yaml") {
            $0.replacingOccurrences(of: "targets: [{ target: local }]", with: "targets: [{ target: local }, { target: local }]")
        }
        #expect(d.contains { $0.contains("spec.targets[1].target: target \"local\" is listed twice") }, "\(d)")
    }
}

/// Fields that belong to one target type, and what each type needs to serve.
@Suite struct TargetFieldTests {
    @Test func aFieldOfAnotherTargetTypeIsAnErrorNamingTheField() {
        let problems = validate(
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: node-1 }
            spec:
              type: agent
              endpoint: http://127.0.0.1:7443
              storage: /shared/gantry
            """)
        #expect(problems.contains("t.yaml:7:12: error: spec.storage: \"storage\" applies to ray targets, not agent"), "\(problems)")
    }

    @Test func eachTargetTypeNeedsItsOwnServeField() {
        let problems = validate(
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: cluster }
            spec: { type: ray, endpoint: "http://127.0.0.1:8265", storage: /shared }
            ---
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: registry }
            spec: { type: mlflow, endpoint: "http://127.0.0.1:5000" }
            ---
            apiVersion: gantry.dev/v1alpha1
            kind: Pipeline
            metadata: { name: p }
            spec:
              steps: [{ name: train, command: [python3, train.py] }]
              artifact: { step: train, path: model.json }
            ---
            apiVersion: gantry.dev/v1alpha1
            kind: Model
            metadata: { name: m }
            spec: { pipeline: p, target: local }
            ---
            apiVersion: gantry.dev/v1alpha1
            kind: Deployment
            metadata: { name: on-ray }
            spec:
              model: m
              version: 1
              serve: { command: [python3, serve.py] }
              targets: [{ target: cluster }]
            ---
            apiVersion: gantry.dev/v1alpha1
            kind: Deployment
            metadata: { name: in-registry }
            spec:
              model: m
              version: 1
              serve: { alias: champion }
              targets: [{ target: registry }]
            """)
        #expect(problems.contains { $0.contains("spec.serve: missing required field \"importPath\" to serve on ray target cluster") }, "\(problems)")
        #expect(problems.count == 1, "an mlflow target needs no serve command: \(problems.joined(separator: " / "))")
    }

    /// `serve.registry` must name an mlflow Target and serves on local or
    /// agent targets only; `${registry.uri}` needs it. Each problem names its
    /// field and line.
    @Test func servingFromARegistryNeedsAnMLflowTargetOnALocalOrAgentTarget() {
        let targets = """
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: registry }
            spec: { type: mlflow, endpoint: "http://127.0.0.1:5000" }
            ---
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: cluster }
            spec: { type: ray, endpoint: "http://127.0.0.1:8265" }
            """
        func problems(_ serve: String, target: String = "local") -> [String] {
            Fixture.diagnostics(editing: "data.yaml") {
                $0.replacingOccurrences(of: #"    command: [python3, serve.py, --model, "${artifact}", --port, "${port}"]"#, with: serve)
                    .replacingOccurrences(of: "targets: [{ target: local }]", with: "targets: [{ target: \(target) }]")
                    + "---\n" + targets
            }
        }
        // Valid: the default command, or one of the user's using the URI.
        #expect(problems("    registry: registry") == [])
        #expect(problems("    registry: registry\n" + #"    command: [mlflow, models, serve, -m, "${registry.uri}", -p, "${port}"]"#) == [])

        let notMLflow = problems("    registry: cluster")
        #expect(notMLflow == [#"data.yaml:15:15: error: spec.serve.registry: target "cluster" is ray, not an mlflow registry"#], "\(notMLflow)")
        let missing = problems("    registry: registy")
        #expect(missing.count == 1 && missing[0].contains("spec.serve.registry") && missing[0].contains("registry"), "\(missing)")
        let onRay = problems("    registry: registry\n    importPath: app:deployment", target: "cluster")
        #expect(
            onRay.contains {
                $0.contains("spec.serve.registry: serving from a registry runs `mlflow models serve` on a local or agent target; target cluster is ray")
            },
            "\(onRay)")
        let uriAlone = problems(#"    command: [mlflow, models, serve, -m, "${registry.uri}"]"#)
        #expect(uriAlone.count == 1 && uriAlone[0].contains("spec.serve.command[4]: ${registry.uri} needs spec.serve.registry"), "\(uriAlone)")
    }

    func validate(_ text: String) -> [String] {
        let file = ManifestDecoder.decode(path: "t.yaml", bytes: Array(text.utf8))
        return ManifestSet.assemble([file]).diagnostics.map(\.description)
    }
}
