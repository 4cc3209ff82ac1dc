#!/usr/bin/env python3
"""Writes Tests/Corpus/malformed/*.yaml: manifests written wrong on purpose,
one mistake each, with the error `gantry validate` must report on the file's
first line (`# expect: TEXT`, matched as a substring of the output).
CLITests.MalformedCorpusTests runs every case through the built binary with
a time and memory bound: each must exit 1 with its error, never crash, hang
or grow without bound. Run this after changing a case:

    python3 Tests/Corpus/generate.py
"""
import os, shutil

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "malformed")

TARGET = """apiVersion: gantry.dev/v1alpha1
kind: Target
metadata: { name: gpu }
spec:
  type: agent
  endpoint: http://gpu.internal:7443
  credentials: { token: { env: GPU_TOKEN } }
"""
DATASET = """apiVersion: gantry.dev/v1alpha1
kind: Dataset
metadata: { name: rows }
spec:
  source: { path: data/rows.csv }
"""
PIPELINE = """apiVersion: gantry.dev/v1alpha1
kind: Pipeline
metadata: { name: train }
spec:
  codePath: src
  params: { epochs: 10 }
  steps:
    - name: prepare
      command: [python3, prep.py, "${datasets.rows}", "${outputs}"]
    - name: fit
      dependsOn: [prepare]
      command: [python3, fit.py, "${steps.prepare}", "${outputs}", "${params.epochs}"]
      env: { PYTHONUNBUFFERED: "1" }
      timeout: 10m
  artifact: { step: fit, path: model.json }
  metrics: { step: fit, path: metrics.json }
"""
MODEL = """apiVersion: gantry.dev/v1alpha1
kind: Model
metadata: { name: churn }
spec:
  pipeline: train
  datasets: [rows]
  target: gpu
  promotion: { policy: manual, gates: ["accuracy >= 0.8"] }
"""
DEPLOYMENT = """apiVersion: gantry.dev/v1alpha1
kind: Deployment
metadata: { name: churn-prod }
spec:
  model: churn
  version: 1
  address: 127.0.0.1:8700
  serve:
    command: [python3, serve.py, --model, "${artifact}", --port, "${port}"]
    workingDir: src
  targets: [{ target: gpu }]
  healthCheck: { path: /health, timeout: 30s }
"""
BASE = {"target": TARGET, "dataset": DATASET, "pipeline": PIPELINE, "model": MODEL, "deployment": DEPLOYMENT}

cases = []  # (name, expected substring, text)


def edit(name, expect, kind, old, new, count=1):
    """The base project with one replacement in one document."""
    docs = dict(BASE)
    assert old in docs[kind], (name, old)
    docs[kind] = docs[kind].replace(old, new, count)
    cases.append((name, expect, "---\n".join(docs.values())))


def raw(name, expect, text):
    cases.append((name, expect, text))


# Missing required fields.
edit("missing-kind", "missing required field \"kind\"", "dataset", "kind: Dataset\n", "")
edit("missing-metadata-name", "metadata.name: missing required field", "dataset", "metadata: { name: rows }", "metadata: { labels: {} }")
edit("missing-spec-dataset", "missing required field \"spec\"", "dataset", "spec:\n  source: { path: data/rows.csv }\n", "")
edit("missing-source", "spec.source: missing required field", "dataset", "  source: { path: data/rows.csv }\n", "  description: none\n")
edit("missing-pipeline", "spec.pipeline: missing required field", "model", "  pipeline: train\n", "")
edit("missing-target", "spec.target: missing required field", "model", "  target: gpu\n", "")
edit("missing-steps", "spec.steps: missing required field", "pipeline", "  steps:\n    - name: prepare\n      command: [python3, prep.py, \"${datasets.rows}\", \"${outputs}\"]\n    - name: fit\n      dependsOn: [prepare]\n      command: [python3, fit.py, \"${steps.prepare}\", \"${outputs}\", \"${params.epochs}\"]\n      env: { PYTHONUNBUFFERED: \"1\" }\n      timeout: 10m\n", "")
edit("missing-artifact", "spec.artifact: missing required field", "pipeline", "  artifact: { step: fit, path: model.json }\n", "")
edit("missing-step-name", "spec.steps[0].name: missing required field", "pipeline", "    - name: prepare\n      command", "    - command")
edit("missing-deployment-model", "spec.model: missing required field", "deployment", "  model: churn\n", "")
edit("missing-version", "spec.version: missing required field", "deployment", "  version: 1\n", "")
edit("missing-serve", "spec.serve: missing required field", "deployment", "  serve:\n    command: [python3, serve.py, --model, \"${artifact}\", --port, \"${port}\"]\n    workingDir: src\n", "")
edit("missing-targets", "spec.targets: missing required field", "deployment", "  targets: [{ target: gpu }]\n", "")
edit("missing-target-type", "spec.type: missing required field", "target", "  type: agent\n", "")
edit("missing-artifact-path", "spec.artifact.path: missing required field", "pipeline", "artifact: { step: fit, path: model.json }", "artifact: { step: fit }")
edit("missing-s3-bucket", "bucket", "dataset", "source: { path: data/rows.csv }", "source: { s3: { key: a.csv } }")
edit("missing-placement-target", "spec.targets[0].target: missing required field", "deployment", "targets: [{ target: gpu }]", "targets: [{ replicas: 2 }]")

# Values of the wrong type.
for name, kind, old, new, field in [
    ("version-string", "deployment", "version: 1", "version: one", "spec.version"),
    ("version-list", "deployment", "version: 1", "version: [1]", "spec.version"),
    ("version-float", "deployment", "version: 1", "version: 1.5", "spec.version"),
    ("version-str-tag", "deployment", "version: 1", "version: !!str 1", "spec.version"),
    ("version-quoted", "deployment", "version: 1", "version: \"1\"", "spec.version"),
    ("datasets-string", "model", "datasets: [rows]", "datasets: rows", "spec.datasets"),
    ("datasets-map", "model", "datasets: [rows]", "datasets: { rows: 1 }", "spec.datasets"),
    ("steps-map", "pipeline", "  steps:\n    - name: prepare", "  steps:\n    prepare:\n      x: 1\n    other:\n    - name: prepare", "spec.steps"),
    ("targets-string", "deployment", "targets: [{ target: gpu }]", "targets: gpu", "spec.targets"),
    ("replicas-string", "deployment", "targets: [{ target: gpu }]", "targets: [{ target: gpu, replicas: many }]", "spec.targets[0].replicas"),
    ("replicas-float", "deployment", "targets: [{ target: gpu }]", "targets: [{ target: gpu, replicas: 1.5 }]", "spec.targets[0].replicas"),
    ("params-list", "pipeline", "params: { epochs: 10 }", "params: { epochs: [10] }", "spec.params.epochs"),
    ("params-map", "pipeline", "params: { epochs: 10 }", "params: { epochs: { n: 10 } }", "spec.params.epochs"),
    ("env-list", "pipeline", "env: { PYTHONUNBUFFERED: \"1\" }", "env: [PYTHONUNBUFFERED]", "spec.steps[1].env"),
    ("env-value-list", "pipeline", "env: { PYTHONUNBUFFERED: \"1\" }", "env: { PYTHONUNBUFFERED: [1] }", "spec.steps[1].env.PYTHONUNBUFFERED"),
    ("command-map", "pipeline", "command: [python3, prep.py, \"${datasets.rows}\", \"${outputs}\"]", "command: { run: prep.py }", "spec.steps[0].command"),
    ("command-empty", "pipeline", "command: [python3, prep.py, \"${datasets.rows}\", \"${outputs}\"]", "command: []", "spec.steps[0].command"),
    ("command-string", "pipeline", "command: [python3, prep.py, \"${datasets.rows}\", \"${outputs}\"]", "command: python3 prep.py", "no shell runs it"),
    ("command-nested-list", "pipeline", "command: [python3, prep.py, \"${datasets.rows}\", \"${outputs}\"]", "command: [python3, [prep.py]]", "spec.steps[0].command"),
    ("credentials-inline", "target", "credentials: { token: { env: GPU_TOKEN } }", "credentials: { token: s3cr3t-value }", "secret written inline"),
    ("credentials-both", "target", "credentials: { token: { env: GPU_TOKEN } }", "credentials: { token: { env: A, file: /b } }", "exactly one of \"env\" or \"file\""),
    ("credentials-neither", "target", "credentials: { token: { env: GPU_TOKEN } }", "credentials: { token: {} }", "exactly one of \"env\" or \"file\""),
    ("capabilities-string", "target", "  credentials:", "  capabilities: train\n  credentials:", "spec.capabilities"),
    ("health-timeout-number", "deployment", "timeout: 30s", "timeout: 30", "invalid duration \"30\""),
    ("metadata-list", "dataset", "metadata: { name: rows }", "metadata: [rows]", "metadata"),
    ("spec-list", "dataset", "spec:\n  source: { path: data/rows.csv }", "spec: [source]", "spec"),
    ("dependson-string", "pipeline", "dependsOn: [prepare]", "dependsOn: prepare", "spec.steps[1].dependsOn"),
    ("gates-string", "model", "gates: [\"accuracy >= 0.8\"]", "gates: \"accuracy >= 0.8\"", "spec.promotion.gates"),
    ("address-number", "deployment", "address: 127.0.0.1:8700", "address: 8700", "spec.address"),
]:
    edit(name, field, kind, old, new)

# Unknown fields: typos are named with a suggestion.
for name, kind, old, new, expect in [
    ("typo-pipline", "model", "  pipeline: train", "  pipline: train", "unknown field \"pipline\""),
    ("typo-targte", "model", "  target: gpu", "  targte: gpu", "unknown field \"targte\""),
    ("typo-dataset", "model", "  datasets: [rows]", "  dataset: [rows]\n  datasets: [rows]", "unknown field \"dataset\""),
    ("typo-comand", "pipeline", "      command: [python3, prep.py", "      comand: [python3, prep.py", "unknown field \"comand\""),
    ("typo-depends", "pipeline", "dependsOn: [prepare]", "depends_on: [prepare]", "unknown field \"depends_on\""),
    ("typo-timout", "pipeline", "timeout: 10m", "timout: 10m", "unknown field \"timout\""),
    ("typo-artefact", "pipeline", "  artifact: {", "  artefact: {", "unknown field \"artefact\""),
    ("typo-versoin", "deployment", "  version: 1", "  versoin: 1\n  version: 1", "unknown field \"versoin\""),
    ("typo-adress", "deployment", "  address:", "  adress:", "unknown field \"adress\""),
    ("typo-healthcheck", "deployment", "  healthCheck:", "  healthcheck:", "unknown field \"healthcheck\""),
    ("typo-workdir", "deployment", "    workingDir: src", "    workdir: src", "unknown field \"workdir\""),
    ("typo-endpoint", "target", "  endpoint:", "  endpiont:", "unknown field \"endpiont\""),
    ("typo-source", "dataset", "  source:", "  sources:", "unknown field \"sources\""),
    ("typo-replica", "deployment", "targets: [{ target: gpu }]", "targets: [{ target: gpu, replica: 2 }]", "unknown field \"replica\""),
    ("typo-policy", "model", "policy: manual", "polcy: manual", "unknown field \"polcy\""),
    ("typo-metadata", "dataset", "metadata: { name: rows }", "metadata: { name: rows, lables: {} }", "unknown field \"lables\""),
    ("unknown-top-level", "dataset", "kind: Dataset\n", "kind: Dataset\nstatus: {}\n", "unknown field \"status\""),
    ("typo-strategy", "deployment", "  healthCheck:", "  stratgy: { type: waves }\n  healthCheck:", "unknown field \"stratgy\""),
]:
    edit(name, expect, kind, old, new)

# Values outside their set.
for name, kind, old, new, expect in [
    ("enum-target-type", "target", "type: agent", "type: kubernetes", "unknown value \"kubernetes\""),
    ("enum-target-type-case", "target", "type: agent", "type: Agent", "unknown value \"Agent\""),
    ("enum-policy", "model", "policy: manual", "policy: automatic", "unknown value \"automatic\""),
    ("enum-capability", "target", "  credentials:", "  capabilities: [train, predict]\n  credentials:", "unknown value \"predict\""),
    ("enum-kind", "dataset", "kind: Dataset", "kind: DataSet", "unknown kind \"DataSet\""),
    ("enum-api-version", "dataset", "apiVersion: gantry.dev/v1alpha1", "apiVersion: gantry.dev/v2", "unsupported apiVersion"),
    ("enum-api-group", "dataset", "apiVersion: gantry.dev/v1alpha1", "apiVersion: gantry.io/v1alpha1", "unknown API group"),
    ("enum-strategy", "deployment", "  healthCheck:", "  strategy: { type: blue-green }\n  healthCheck:", "unknown value \"blue-green\""),
]:
    edit(name, expect, kind, old, new)

# Durations.
for i, value in enumerate(["90", "1h30", "30 s", "10M", "0s", "-5s", "ten", "1.2.3s", "3651d", "999999999999999999999999999d", "1e3s", "s"]):
    edit("duration-%02d" % i, "invalid duration", "pipeline", "timeout: 10m", "timeout: \"%s\"" % value)
edit("duration-step-under-1s", "a timeout must be at least 1s", "pipeline", "timeout: 10m", "timeout: 500ms")
edit("schedule-too-short", "the shortest is 1m", "model", "  target: gpu\n", "  target: gpu\n  triggers: { schedule: 500ms }\n")
edit("schedule-invalid", "invalid duration", "model", "  target: gpu\n", "  target: gpu\n  triggers: { schedule: weekly }\n")

# Names.
for i, value in enumerate(["Churn", "churn_v2", "-churn", "churn-", "churn.v2", "a" * 64, "\"\"", "ch urn", "chürn", "a..b"]):
    edit("name-%02d" % i, "metadata.name", "dataset", "metadata: { name: rows }", "metadata: { name: %s }" % value)
edit("step-name-invalid", "spec.steps[0].name", "pipeline", "- name: prepare", "- name: Prepare_Data")
edit("step-name-duplicate", "duplicate step \"prepare\"", "pipeline", "    - name: fit\n", "    - name: prepare\n")

# Paths that leave the project or the step's outputs.
for name, kind, old, new, field in [
    ("path-codepath-up", "pipeline", "codePath: src", "codePath: ../..", "spec.codePath: \"../..\" leaves the project"),
    ("path-codepath-abs", "pipeline", "codePath: src", "codePath: /etc", "spec.codePath: \"/etc\" is absolute"),
    ("path-codepath-sneaky", "pipeline", "codePath: src", "codePath: src/../../x", "leaves the project"),
    ("path-workingdir-up", "pipeline", "      timeout: 10m", "      timeout: 10m\n      workingDir: ../../", "spec.steps[1].workingDir"),
    ("path-workingdir-abs", "pipeline", "      timeout: 10m", "      timeout: 10m\n      workingDir: /root", "spec.steps[1].workingDir"),
    ("path-input-up", "pipeline", "      timeout: 10m", "      timeout: 10m\n      inputs: [../secrets.txt]", "spec.steps[1].inputs[0]"),
    ("path-input-abs", "pipeline", "      timeout: 10m", "      timeout: 10m\n      inputs: [/etc/shadow]", "spec.steps[1].inputs[0]"),
    ("path-output-up", "pipeline", "      timeout: 10m", "      timeout: 10m\n      outputs: [../../x]", "spec.steps[1].outputs[0]"),
    ("path-artifact-up", "pipeline", "path: model.json", "path: ../../../../etc/passwd", "spec.artifact.path"),
    ("path-artifact-abs", "pipeline", "path: model.json", "path: /etc/passwd", "spec.artifact.path"),
    ("path-metrics-up", "pipeline", "path: metrics.json", "path: ../../proc/self/environ", "spec.metrics.path"),
    ("path-metrics-abs", "pipeline", "path: metrics.json", "path: /proc/self/environ", "spec.metrics.path"),
    ("path-notebook-up", "pipeline", "      command: [python3, prep.py, \"${datasets.rows}\", \"${outputs}\"]", "      notebook: { path: ../../x.ipynb }", "spec.steps[0].notebook.path"),
    ("path-serve-workingdir-up", "deployment", "    workingDir: src", "    workingDir: ../..", "spec.serve.workingDir"),
    ("path-serve-workingdir-abs", "deployment", "    workingDir: src", "    workingDir: /", "spec.serve.workingDir"),
    ("path-dataset-up", "dataset", "path: data/rows.csv", "path: ../../home/user/.ssh/id_rsa", "spec.source.path"),
    ("path-dataset-empty", "dataset", "path: data/rows.csv", "path: \"\"", "spec.source.path"),
    ("path-dataset-nul", "dataset", "path: data/rows.csv", "path: \"data/\\0rows\"", "NUL"),
]:
    edit(name, field, kind, old, new)

# Secrets written inline, environment names.
for i, var in enumerate(["API_TOKEN", "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY", "GH_PASSWD", "SERVICE_CREDENTIALS", "PRIVATE_KEY", "hf_token"]):
    edit("secret-inline-%02d" % i, "looks like a secret written inline", "pipeline", "env: { PYTHONUNBUFFERED: \"1\" }", "env: { %s: abc123 }" % var)
edit("secret-unwrapped", "a secret in env is written { secret:", "pipeline", "env: { PYTHONUNBUFFERED: \"1\" }", "env: { API_TOKEN: { env: API_TOKEN } }")
edit("secret-serve-inline", "looks like a secret written inline", "deployment", "    workingDir: src", "    workingDir: src\n    env: { DB_PASSWORD: hunter2 }")
for i, var in enumerate(["A=B", "", "9LIVES", "HAS SPACE", "dash-name", "\\u00e9T\\u00e9"]):
    edit("env-name-%02d" % i, "invalid environment variable name", "pipeline", "env: { PYTHONUNBUFFERED: \"1\" }", "env: { \"%s\": x }" % var)

# Placeholders.
for name, old, new, expect in [
    ("placeholder-unknown", "\"${outputs}\"]\n    - name: fit", "\"${output}\"]\n    - name: fit", "unknown placeholder ${output}"),
    ("placeholder-unterminated", "\"${outputs}\"]\n    - name: fit", "\"${outputs\"]\n    - name: fit", "\"${outputs\" has no closing }"),
    ("placeholder-step-not-depended", "\"${steps.prepare}\"", "\"${steps.fit}\"", "does not depend on"),
    ("placeholder-param-missing", "\"${params.epochs}\"", "\"${params.epoch}\"", "uses ${params.epoch}"),
    ("placeholder-dataset-missing", "\"${datasets.rows}\"", "\"${datasets.other}\"", "reads ${datasets.other}"),
    ("placeholder-namespace", "\"${datasets.rows}\"", "\"${secrets.rows}\"", "unknown placeholder ${secrets.rows}"),
    ("placeholder-empty", "\"${datasets.rows}\"", "\"${}\"", "unknown placeholder ${}"),
]:
    edit(name, expect, "pipeline", old, new)
edit("placeholder-serve-unknown", "unknown placeholder ${weights}", "deployment", "\"${artifact}\"", "\"${weights}\"")
edit("placeholder-serve-unterminated", "has no closing }", "deployment", "\"${port}\"", "\"${port\"")
edit("placeholder-registry-without", "needs spec.serve.registry", "deployment", "\"${artifact}\"", "\"${registry.uri}\"")

# Duplicates.
edit("duplicate-key", "duplicate key \"version\"", "deployment", "  version: 1\n", "  version: 1\n  version: 2\n")
edit("duplicate-key-nested", "duplicate key \"path\"", "dataset", "source: { path: data/rows.csv }", "source: { path: data/rows.csv, path: x }")
edit("duplicate-dataset-listed", "dataset \"rows\" is listed twice", "model", "datasets: [rows]", "datasets: [rows, rows]")
edit("duplicate-target-listed", "target \"gpu\" is listed twice", "deployment", "targets: [{ target: gpu }]", "targets: [{ target: gpu }, { target: gpu }]")
raw("duplicate-object-name", "duplicate Dataset \"rows\"", "---\n".join(BASE.values()) + "---\n" + DATASET)
raw("duplicate-object-name-many", "duplicate Dataset \"rows\"", "---\n".join(BASE.values()) + ("---\n" + DATASET) * 50)

# References between objects.
for name, kind, old, new, expect in [
    ("ref-pipeline", "model", "pipeline: train", "pipeline: trian", "no Pipeline named \"trian\" (did you mean \"train\"?)"),
    ("ref-target", "model", "target: gpu", "target: gpux", "no Target named \"gpux\""),
    ("ref-dataset", "model", "datasets: [rows]", "datasets: [row]", "no Dataset named \"row\""),
    ("ref-model", "deployment", "model: churn", "model: chrun", "no Model named \"chrun\""),
    ("ref-deploy-target", "deployment", "targets: [{ target: gpu }]", "targets: [{ target: gpus }]", "no Target named \"gpus\""),
    ("ref-depends-on", "pipeline", "dependsOn: [prepare]", "dependsOn: [prep]", "no step named \"prep\""),
    ("ref-artifact-step", "pipeline", "artifact: { step: fit", "artifact: { step: fitt", "no step named \"fitt\""),
    ("ref-metrics-step", "pipeline", "metrics: { step: fit", "metrics: { step: evaluate", "no step named \"evaluate\""),
    ("ref-registry", "deployment", "    workingDir: src", "    workingDir: src\n    registry: mlflow", "no Target named \"mlflow\""),
    ("capability-train", "target", "  credentials:", "  capabilities: [serve]\n  credentials:", "does not allow train"),
    ("capability-serve", "target", "  credentials:", "  capabilities: [train]\n  credentials:", "does not allow serve"),
    ("cycle", "pipeline", "    - name: prepare\n", "    - name: prepare\n      dependsOn: [fit]\n", "steps form a cycle"),
]:
    edit(name, expect, kind, old, new)

# Gates and strategies.
for i, gate in enumerate(["accuracy at least 0.8", "accuracy >= high", ">= 0.8", "accuracy => 0.8", "accuracy", ""]):
    edit("gate-%02d" % i, "invalid gate", "model", "\"accuracy >= 0.8\"", "\"%s\"" % gate)
for i, steps in enumerate(["[50, 10, 100]", "[10, 50]", "[0, 100]", "[10, 150]", "[]", "[10, 10, 100]"]):
    edit("canary-%02d" % i, "canary steps are increasing percentages", "deployment", "  healthCheck:", "  strategy: { type: canary, steps: %s }\n  healthCheck:" % steps)
edit("waves-missing-target", "waves must list each", "deployment", "  healthCheck:", "  strategy: { type: waves, waves: [[other]] }\n  healthCheck:")
edit("waves-twice", "waves must list each", "deployment", "  healthCheck:", "  strategy: { type: waves, waves: [[gpu], [gpu]] }\n  healthCheck:")

# Deployment values.
for i, address in enumerate(["localhost", "127.0.0.1:", "127.0.0.1:99999", ":8700", "127.0.0.1:http"]):
    edit("address-%02d" % i, "expected HOST:PORT", "deployment", "address: 127.0.0.1:8700", "address: \"%s\"" % address)
edit("version-zero", "versions are numbered from 1", "deployment", "version: 1", "version: 0")
edit("replicas-zero", "replicas must be at least 1", "deployment", "targets: [{ target: gpu }]", "targets: [{ target: gpu, replicas: 0 }]")
edit("health-path", "a health check path starts with /", "deployment", "path: /health", "path: health")
edit("targets-empty", "a deployment needs at least one target", "deployment", "targets: [{ target: gpu }]", "targets: []")
edit("steps-empty", "a pipeline needs at least one step", "pipeline", "  steps:\n    - name: prepare\n      command: [python3, prep.py, \"${datasets.rows}\", \"${outputs}\"]\n    - name: fit\n      dependsOn: [prepare]\n      command: [python3, fit.py, \"${steps.prepare}\", \"${outputs}\", \"${params.epochs}\"]\n      env: { PYTHONUNBUFFERED: \"1\" }\n      timeout: 10m\n", "  steps: []\n")

# Targets.
edit("target-endpoint-scheme", "expected an http:// or https:// URL", "target", "endpoint: http://gpu.internal:7443", "endpoint: gpu.internal:7443")
edit("target-local-endpoint", "a local target has no endpoint", "target", "type: agent", "type: local")
edit("target-missing-endpoint", "missing required field \"endpoint\"", "target", "  endpoint: http://gpu.internal:7443\n", "")
edit("target-sagemaker-field", "applies to sagemaker targets", "target", "  credentials:", "  roleArn: arn:aws:iam::1:role/x\n  credentials:")
edit("target-capabilities-empty", "at least one capability", "target", "  credentials:", "  capabilities: []\n  credentials:")
edit("target-cafile-http", "need an https:// endpoint", "target", "  credentials:", "  caFile: /etc/ca.pem\n  credentials:")
edit("target-client-cert-alone", "go together", "target", "{ token: { env: GPU_TOKEN } }", "{ token: { env: GPU_TOKEN }, clientCertificate: { file: /c.pem } }")
edit("target-sagemaker-region", "missing required field \"region\"", "target", "type: agent", "type: sagemaker")
edit("dataset-two-sources", "exactly one of \"path\", \"url\" or \"s3\"", "dataset", "source: { path: data/rows.csv }", "source: { path: a, url: https://x/y }")
edit("dataset-url-scheme", "expected an http:// or https:// URL", "dataset", "source: { path: data/rows.csv }", "source: { url: ftp://example.com/rows.csv }")
edit("notebook-and-command", "exactly one of \"command\" or \"notebook\"", "pipeline", "      command: [python3, prep.py, \"${datasets.rows}\", \"${outputs}\"]", "      command: [python3, prep.py, \"${datasets.rows}\", \"${outputs}\"]\n      notebook: { path: src/x.ipynb }")

# YAML that is not YAML, or is YAML made to hurt.
raw("syntax-unclosed-flow", "did not find expected", "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata: { name: rows\nspec: {}\n")
raw("syntax-unclosed-quote", "found unexpected end of stream", "apiVersion: \"gantry.dev/v1alpha1\nkind: Dataset\n")
raw("syntax-tab-indent", "found character that cannot start any token", "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata:\n\tname: rows\n")
raw("syntax-bad-indent", "error: ", "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata:\n  name: rows\n   spec: {}\n")
raw("syntax-unknown-anchor", "unknown anchor \"nowhere\"", "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata: *nowhere\n")
raw("syntax-mapping-in-scalar", "mapping values are not allowed", "apiVersion: gantry.dev/v1alpha1\nkind: Dataset: x\n")
raw("syntax-directive", "error: ", "%YAML 9.9\n---\napiVersion: gantry.dev/v1alpha1\n")
raw("syntax-bare-document-end", "error: ", "apiVersion: gantry.dev/v1alpha1\n...\nkind: [\n")
raw("deep-nesting", "nested deeper than 64 levels", "x: " + "[" * 200 + "]" * 200 + "\n")
raw("deep-mappings", "nested deeper than 64 levels", "".join("  " * i + "k%d:\n" % i for i in range(100)) + "  " * 100 + "v: 1\n")
lol = "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata: { name: rows }\nspec:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n"
prev = "a"
for i in range(1, 9):
    n = "l%d" % i
    lol += "  %s: &%s [%s]\n" % (n, n, ", ".join(["*" + prev] * 10))
    prev = n
raw("billion-laughs", "expands to more than 1000000 nodes", lol)
raw("many-keys-duplicate", "duplicate key \"k777\"", "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata: { name: rows }\nspec:\n" + "".join("  k%d: v\n" % i for i in range(3000)) + "  k777: again\n")
raw("tag-binary", "expected", "apiVersion: gantry.dev/v1alpha1\nkind: Deployment\nmetadata: { name: d }\nspec:\n  model: m\n  version: !!binary AQ==\n  serve: { command: [x] }\n  targets: [{ target: local }]\n")
raw("tag-custom", "found \"1\" (tagged !evil)", "apiVersion: gantry.dev/v1alpha1\nkind: Deployment\nmetadata: { name: d }\nspec:\n  model: m\n  version: !evil 1\n  serve: { command: [x] }\n  targets: [{ target: local }]\n")
raw("tag-float-version", "expected an integer", "apiVersion: gantry.dev/v1alpha1\nkind: Deployment\nmetadata: { name: d }\nspec:\n  model: m\n  version: !!float 1\n  serve: { command: [x] }\n  targets: [{ target: local }]\n")
raw("top-level-list", "error: ", "- apiVersion: gantry.dev/v1alpha1\n  kind: Dataset\n- [\n")
raw("null-spec", "spec", "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata: { name: rows }\nspec: ~\n")
raw("null-name", "metadata.name", "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata: { name: ~ }\nspec:\n  source: { path: a }\n")
raw("kind-number", "kind", "apiVersion: gantry.dev/v1alpha1\nkind: 42\nmetadata: { name: rows }\n")
raw("api-version-list", "apiVersion", "apiVersion: [gantry.dev/v1alpha1]\nkind: Dataset\nmetadata: { name: rows }\n")

# Text that is not text.
BYTES = []  # (name, expected, bytes)
prefix = b"apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata: { name: rows }\nspec:\n  source: { path: "
for name, bad, expect in [
    ("bytes-invalid-utf8", b"\xff\xfe", "6:21: error: invalid leading UTF-8 octet"), ("bytes-nul", b"\x00", "control characters are not allowed"),
    ("bytes-bell", b"\x07", "control characters are not allowed"), ("bytes-escape", b"\x1b[31m", "control characters are not allowed"),
    ("bytes-truncated-utf8", b"\xc3", "UTF-8"), ("bytes-overlong-utf8", b"\xc0\xaf", "UTF-8"), ("bytes-surrogate-utf8", b"\xed\xa0\x80", "6:21: error: invalid Unicode character"),
    ("bytes-del", b"\x7f", "error: "),
]:
    BYTES.append((name, expect, prefix + b"da" + bad + b"ta }\n"))
BYTES.append(("bytes-utf16", "error: ", "apiVersion: gantry.dev/v1alpha1\n".encode("utf-16")))

# Names and values too long to echo whole.
edit("long-name", "is longer than 63 characters", "dataset", "metadata: { name: rows }", "metadata: { name: %s }" % ("a" * 5000))
edit("long-reference", "no Pipeline named \"" + "p" * 77 + "...\"", "model", "pipeline: train", "pipeline: %s" % ("p" * 5000))
edit("long-unknown-field", "unknown field \"" + "f" * 77 + "...\"", "dataset", "  source:", "  %s: 1\n  source:" % ("f" * 900))
# YAML allows an implicit key of at most 1024 characters.
edit("long-key", "14:5003: error: mapping values are not allowed", "dataset", "  source:", "  %s: 1\n  source:" % ("f" * 5000))

# SageMaker checks that used to wait for apply.
SAGEMAKER = """apiVersion: gantry.dev/v1alpha1
kind: Target
metadata: { name: gpu }
spec:
  type: sagemaker
  endpoint: https://api.sagemaker.eu-west-1.amazonaws.com
  region: eu-west-1
  roleArn: arn:aws:iam::123456789012:role/gantry
  bucket: models
"""
docs = dict(BASE); docs["target"] = SAGEMAKER
docs["deployment"] = docs["deployment"].replace("    command: [python3, serve.py, --model, \"${artifact}\", --port, \"${port}\"]\n    workingDir: src\n", "    image: serve:1\n")
raw("sagemaker-path-dataset", "is read from a path; a sagemaker training job", "---\n".join(docs.values()))
docs2 = dict(docs); docs2["deployment"] = docs2["deployment"].replace("    image: serve:1\n", "    image: serve:1\n    env: { TOKEN: { secret: { env: TOKEN } } }\n")
docs2["dataset"] = docs2["dataset"].replace("source: { path: data/rows.csv }", "source: { s3: { bucket: b, key: k } }")
raw("sagemaker-serve-secret", "a secret cannot be given to a SageMaker model", "---\n".join(docs2.values()))

if os.path.isdir(OUT):
    shutil.rmtree(OUT)
os.makedirs(OUT)
names = set()
for name, expect, text in cases:
    assert name not in names, name
    names.add(name)
    with open(os.path.join(OUT, name + ".yaml"), "w") as f:
        f.write("# expect: %s\n%s" % (expect, text))
for name, expect, data in BYTES:
    assert name not in names, name
    names.add(name)
    with open(os.path.join(OUT, name + ".yaml"), "wb") as f:
        f.write(b"# expect: " + expect.encode() + b"\n" + data)
print("%d cases in %s" % (len(names), os.path.relpath(OUT)))
