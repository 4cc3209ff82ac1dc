import YAML

// The strict readers of each manifest type (see `Strict`). Every field a
// type declares is read here; a key that is not (a field added to a type
// later, say) makes the reader decline, and `YAMLDecoder` decodes the
// document instead. Types built with their memberwise initialiser fail to
// compile when a field is added, which is the reminder to add it here.

extension Object {
    init?(strict n: Node, spec read: (Node) -> Spec?) {
        var apiVersion: String?
        var kind: Kind?
        var metadata: Metadata?
        var spec: Spec?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "apiVersion": return Strict.set(&apiVersion, v, Strict.string)
            case "kind": return Strict.set(&kind, v, Strict.value)
            case "metadata": return Strict.set(&metadata, v, Metadata.init(strict:))
            case "spec": return Strict.set(&spec, v, read)
            default: return false
            }
        }
        guard ok, let apiVersion, let kind, let metadata, let spec else { return nil }
        self.init(kind: kind, name: metadata.name, spec: spec)
        self.apiVersion = apiVersion
        self.metadata = metadata
    }
}

extension Metadata {
    init?(strict n: Node) {
        var name: String?
        var labels: [String: String]?
        var annotations: [String: String]?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "name": return Strict.set(&name, v, Strict.string)
            case "labels": return Strict.setOptional(&labels, v) { Strict.map($0, Strict.string) }
            case "annotations": return Strict.setOptional(&annotations, v) { Strict.map($0, Strict.string) }
            default: return false
            }
        }
        guard ok, let name else { return nil }
        self.init(name: name, labels: labels, annotations: annotations)
    }
}

extension ModelSpec {
    init?(strict n: Node) {
        var pipeline: String?
        var datasets: [String]?
        var target: String?
        var params: [String: ParamValue]?
        var runtime: [String: String]?
        var triggers: Triggers?
        var promotion: Promotion?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "pipeline": return Strict.set(&pipeline, v, Strict.string)
            case "datasets": return Strict.setOptional(&datasets, v, Strict.strings)
            case "target": return Strict.set(&target, v, Strict.string)
            case "params": return Strict.setOptional(&params, v) { Strict.map($0, ParamValue.init(strict:)) }
            case "runtime": return Strict.setOptional(&runtime, v) { Strict.map($0, Strict.string) }
            case "triggers": return Strict.setOptional(&triggers, v, Triggers.init(strict:))
            case "promotion": return Strict.setOptional(&promotion, v, Promotion.init(strict:))
            default: return false
            }
        }
        guard ok, let pipeline, let target else { return nil }
        self.init(
            pipeline: pipeline, datasets: datasets, target: target, params: params, runtime: runtime,
            triggers: triggers, promotion: promotion)
    }
}

extension Triggers {
    init?(strict n: Node) {
        var data: Bool?
        var code: Bool?
        var params: Bool?
        var runtime: Bool?
        var schedule: TimeSpan?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "runtime": return Strict.setOptional(&runtime, v, Strict.bool)
            case "data": return Strict.setOptional(&data, v, Strict.bool)
            case "code": return Strict.setOptional(&code, v, Strict.bool)
            case "params": return Strict.setOptional(&params, v, Strict.bool)
            case "schedule": return Strict.setOptional(&schedule, v, TimeSpan.init(strict:))
            default: return false
            }
        }
        guard ok else { return nil }
        self.init(data: data, code: code, params: params, runtime: runtime, schedule: schedule)
    }
}

extension Promotion {
    init?(strict n: Node) {
        var policy: Policy?
        var gates: [String]?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "policy": return Strict.set(&policy, v, Strict.value)
            case "gates": return Strict.setOptional(&gates, v, Strict.strings)
            default: return false
            }
        }
        guard ok, let policy else { return nil }
        self.init(policy: policy, gates: gates)
    }
}

extension DeploymentSpec {
    init?(strict n: Node) {
        var model: String?
        var version: Int?
        var address: String?
        var serve: Serve?
        var targets: [Placement]?
        var healthCheck: HealthCheck?
        var strategy: Strategy?
        var autoRollback: Bool?
        var promotion: StagePromotion?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "model": return Strict.set(&model, v, Strict.string)
            case "version": return Strict.set(&version, v, Strict.int)
            case "address": return Strict.setOptional(&address, v, Strict.string)
            case "serve": return Strict.set(&serve, v, Serve.init(strict:))
            case "targets": return Strict.set(&targets, v) { Strict.list($0, Placement.init(strict:)) }
            case "healthCheck": return Strict.setOptional(&healthCheck, v, HealthCheck.init(strict:))
            case "strategy": return Strict.setOptional(&strategy, v, Strategy.init(strict:))
            case "autoRollback": return Strict.setOptional(&autoRollback, v, Strict.bool)
            case "promotion": return Strict.setOptional(&promotion, v, StagePromotion.init(strict:))
            default: return false
            }
        }
        guard ok, let model, let version, let serve, let targets else { return nil }
        self.init(
            model: model, version: version, address: address, serve: serve, targets: targets,
            healthCheck: healthCheck, strategy: strategy, autoRollback: autoRollback, promotion: promotion)
    }
}

extension Serve {
    init?(strict n: Node) {
        var command: Command?
        var workingDir: String?
        var env: [String: EnvValue]?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "command": return Strict.set(&command, v, Command.init(strict:))
            case "workingDir": return Strict.setOptional(&workingDir, v, Strict.string)
            case "env": return Strict.setOptional(&env, v) { Strict.map($0, EnvValue.init(strict:)) }
            default: return false
            }
        }
        guard ok, let command else { return nil }
        self.init(command: command, workingDir: workingDir, env: env)
    }
}

extension Placement {
    init?(strict n: Node) {
        var target: String?
        var replicas: Int?
        var address: String?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "target": return Strict.set(&target, v, Strict.string)
            case "replicas": return Strict.setOptional(&replicas, v, Strict.int)
            case "address": return Strict.setOptional(&address, v, Strict.string)
            default: return false
            }
        }
        guard ok, let target else { return nil }
        self.init(target: target, replicas: replicas, address: address)
    }
}

extension HealthCheck {
    init?(strict n: Node) {
        var path: String?
        var timeout: TimeSpan?
        var interval: TimeSpan?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "path": return Strict.setOptional(&path, v, Strict.string)
            case "timeout": return Strict.setOptional(&timeout, v, TimeSpan.init(strict:))
            case "interval": return Strict.setOptional(&interval, v, TimeSpan.init(strict:))
            default: return false
            }
        }
        guard ok else { return nil }
        self.init(path: path, timeout: timeout, interval: interval)
    }
}

extension Strategy {
    init?(strict n: Node) {
        var type: StrategyType?
        var steps: [Int]?
        var waves: [[String]]?
        var pause: TimeSpan?
        var analysis: Analysis?
        var onFailure: FailureAction?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "type": return Strict.set(&type, v, Strict.value)
            case "steps": return Strict.setOptional(&steps, v) { Strict.list($0, Strict.int) }
            case "waves": return Strict.setOptional(&waves, v) { Strict.list($0, Strict.strings) }
            case "pause": return Strict.setOptional(&pause, v, TimeSpan.init(strict:))
            case "analysis": return Strict.setOptional(&analysis, v, Analysis.init(strict:))
            case "onFailure": return Strict.setOptional(&onFailure, v, Strict.value)
            default: return false
            }
        }
        guard ok, let type else { return nil }
        self.init(type: type, steps: steps, waves: waves, pause: pause, analysis: analysis, onFailure: onFailure)
    }
}

extension StagePromotion {
    init?(strict n: Node) {
        var from: String?
        var soak: TimeSpan?
        var gates: [String]?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "from": return Strict.set(&from, v, Strict.string)
            case "soak": return Strict.setOptional(&soak, v, TimeSpan.init(strict:))
            case "gates": return Strict.setOptional(&gates, v, Strict.strings)
            default: return false
            }
        }
        guard ok, let from else { return nil }
        self.init(from: from, soak: soak, gates: gates)
    }
}

extension ModelMetricsGate {
    init?(strict n: Node) {
        var path: String?
        var gates: [String]?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "path": return Strict.setOptional(&path, v, Strict.string)
            case "gates": return Strict.set(&gates, v, Strict.strings)
            default: return false
            }
        }
        guard ok, let gates else { return nil }
        self.init(path: path, gates: gates)
    }
}

extension Analysis {
    init?(strict n: Node) {
        var maxErrorRate: Double?
        var maxLatencyP99: TimeSpan?
        var minRequests: Int?
        var maxDuration: TimeSpan?
        var command: Command?
        var metrics: ModelMetricsGate?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "command": return Strict.setOptional(&command, v, Command.init(strict:))
            case "metrics": return Strict.setOptional(&metrics, v, ModelMetricsGate.init(strict:))
            case "maxErrorRate": return Strict.setOptional(&maxErrorRate, v, Strict.double)
            case "maxLatencyP99": return Strict.setOptional(&maxLatencyP99, v, TimeSpan.init(strict:))
            case "minRequests": return Strict.setOptional(&minRequests, v, Strict.int)
            case "maxDuration": return Strict.setOptional(&maxDuration, v, TimeSpan.init(strict:))
            default: return false
            }
        }
        guard ok else { return nil }
        self.init(
            maxErrorRate: maxErrorRate, maxLatencyP99: maxLatencyP99, minRequests: minRequests, maxDuration: maxDuration, command: command, metrics: metrics)
    }
}

extension PipelineSpec {
    init?(strict n: Node) {
        var codePath: String?
        var params: [String: ParamValue]?
        var steps: [Step]?
        var artifact: OutputRef?
        var metrics: OutputRef?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "codePath": return Strict.setOptional(&codePath, v, Strict.string)
            case "params": return Strict.setOptional(&params, v) { Strict.map($0, ParamValue.init(strict:)) }
            case "steps": return Strict.set(&steps, v) { Strict.list($0, Step.init(strict:)) }
            case "artifact": return Strict.set(&artifact, v, OutputRef.init(strict:))
            case "metrics": return Strict.setOptional(&metrics, v, OutputRef.init(strict:))
            default: return false
            }
        }
        guard ok, let steps, let artifact else { return nil }
        self.init(codePath: codePath, params: params, steps: steps, artifact: artifact, metrics: metrics)
    }
}

extension Step {
    init?(strict n: Node) {
        var name: String?
        var command: Command?
        var notebook: Notebook?
        var workingDir: String?
        var dependsOn: [String]?
        var inputs: [String]?
        var outputs: [String]?
        var env: [String: EnvValue]?
        var timeout: TimeSpan?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "name": return Strict.set(&name, v, Strict.string)
            case "command": return Strict.setOptional(&command, v, Command.init(strict:))
            case "notebook": return Strict.setOptional(&notebook, v, Notebook.init(strict:))
            case "workingDir": return Strict.setOptional(&workingDir, v, Strict.string)
            case "dependsOn": return Strict.setOptional(&dependsOn, v, Strict.strings)
            case "inputs": return Strict.setOptional(&inputs, v, Strict.strings)
            case "outputs": return Strict.setOptional(&outputs, v, Strict.strings)
            case "env": return Strict.setOptional(&env, v) { Strict.map($0, EnvValue.init(strict:)) }
            case "timeout": return Strict.setOptional(&timeout, v, TimeSpan.init(strict:))
            default: return false
            }
        }
        guard ok, let name else { return nil }
        self.init(
            name: name, command: command, notebook: notebook, workingDir: workingDir, dependsOn: dependsOn,
            inputs: inputs, outputs: outputs, env: env, timeout: timeout)
    }
}

extension Notebook {
    init?(strict n: Node) {
        var path: String?
        var kernel: String?
        var python: String?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "path": return Strict.set(&path, v, Strict.string)
            case "kernel": return Strict.setOptional(&kernel, v, Strict.string)
            case "python": return Strict.setOptional(&python, v, Strict.string)
            default: return false
            }
        }
        guard ok, let path else { return nil }
        self.init(path: path, kernel: kernel, python: python)
    }
}

extension OutputRef {
    init?(strict n: Node) {
        var step: String?
        var path: String?
        let ok = Strict.fields(n) { key, v in
            switch key {
            case "step": return Strict.set(&step, v, Strict.string)
            case "path": return Strict.set(&path, v, Strict.string)
            default: return false
            }
        }
        guard ok, let step, let path else { return nil }
        self.init(step: step, path: path)
    }
}
