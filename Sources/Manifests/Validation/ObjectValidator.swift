import YAML

/// Checks one object on its own: names, shapes that `Decodable` cannot
/// express, graphs, placeholders, secrets written inline.
enum ObjectValidator {
    static func check(_ manifest: Manifest) -> [Diagnostic] {
        var out: [Diagnostic] = []
        let origin = manifest.origin
        if let problem = Names.problem(with: manifest.name) {
            out.append(origin.diagnostic("metadata.name", problem))
        }
        switch manifest {
        case .target(let e): out += check(e.spec, origin)
        case .dataset(let e): out += check(e.spec, origin)
        case .pipeline(let e): out += check(e.spec, origin)
        case .model(let e): out += check(e.spec, origin)
        case .deployment(let e): out += check(e.spec, origin)
        }
        return out
    }

    static func check(_ spec: TargetSpec, _ origin: Origin) -> [Diagnostic] {
        var out: [Diagnostic] = []
        switch spec.type {
        case .local:
            if spec.endpoint != nil { out.append(origin.diagnostic("spec.endpoint", "a local target has no endpoint")) }
        default:
            if let endpoint = spec.endpoint {
                if !isHTTPURL(endpoint) { out.append(origin.diagnostic("spec.endpoint", "expected an http:// or https:// URL, found \"\(endpoint.clipped)\"")) }
            } else {
                out.append(origin.diagnostic("spec.endpoint", "missing required field \"endpoint\" for a \(spec.type.rawValue) target"))
            }
        }
        if spec.type == .sagemaker, spec.region == nil {
            out.append(origin.diagnostic("spec.region", "missing required field \"region\" for a sagemaker target"))
        }
        if let ca = spec.caFile, !ca.hasPrefix("/") {
            out.append(origin.diagnostic("spec.caFile", "\"\(ca.clipped)\" is not absolute; caFile names a file on the machine that runs Gantry"))
        }
        if spec.type == .agent {
            let certificate = spec.credentials?["clientCertificate"]
            let key = spec.credentials?["clientKey"]
            if (certificate == nil) != (key == nil) {
                out.append(origin.diagnostic("spec.credentials", "clientCertificate and clientKey go together: mutual TLS needs both"))
            }
            for (name, ref) in [("clientCertificate", certificate), ("clientKey", key)] where ref?.file == nil && ref != nil {
                out.append(
                    origin.diagnostic("spec.credentials.\(name)", "a client certificate or key is read by libcurl from a file: write { file: /path/to/pem }"))
            }
            if certificate != nil || spec.caFile != nil, let endpoint = spec.endpoint, !endpoint.hasPrefix("https://") {
                out.append(origin.diagnostic("spec.endpoint", "caFile and a client certificate need an https:// endpoint, found \"\(endpoint.clipped)\""))
            }
        }
        if let caps = spec.capabilities, caps.isEmpty {
            out.append(origin.diagnostic("spec.capabilities", "a target needs at least one capability (train, serve)"))
        }
        let only: [(field: String, set: Bool, type: TargetSpec.TargetType)] = [
            ("roleArn", spec.roleArn != nil, .sagemaker), ("bucket", spec.bucket != nil, .sagemaker),
            ("image", spec.image != nil, .sagemaker), ("instanceType", spec.instanceType != nil, .sagemaker),
            ("region", spec.region != nil, .sagemaker), ("storage", spec.storage != nil, .ray),
            ("caFile", spec.caFile != nil, .agent),
        ]
        for f in only where f.set && spec.type != f.type {
            out.append(origin.diagnostic("spec.\(f.field)", "\"\(f.field)\" applies to \(f.type.rawValue) targets, not \(spec.type.rawValue)"))
        }
        return out
    }

    static func check(_ spec: DatasetSpec, _ origin: Origin) -> [Diagnostic] {
        let s = spec.source
        let given = [s.path != nil, s.url != nil, s.s3 != nil].filter { $0 }.count
        if given != 1 {
            return [origin.diagnostic("spec.source", "a source needs exactly one of \"path\", \"url\" or \"s3\"")]
        }
        if let url = s.url, !isHTTPURL(url) {
            return [origin.diagnostic("spec.source.url", "expected an http:// or https:// URL, found \"\(url.clipped)\"")]
        }
        if let path = s.path, let problem = ProjectPath.problem(path, base: "the project", absoluteAllowed: true) {
            return [origin.diagnostic("spec.source.path", problem)]
        }
        if let path = s.path, !path.hasPrefix("/"), spec.snapshot != nil {
            return [origin.diagnostic("spec.snapshot", "data in the project is kept by Git with each commit; a snapshot is for an absolute path, a url or s3")]
        }
        return []
    }

    static func check(_ spec: PipelineSpec, _ origin: Origin) -> [Diagnostic] {
        var out: [Diagnostic] = []
        if spec.steps.isEmpty { out.append(origin.diagnostic("spec.steps", "a pipeline needs at least one step")) }
        var seen: [String: Int] = [:]
        for (i, step) in spec.steps.enumerated() {
            let at = "spec.steps[\(i)]"
            if let problem = Names.problem(with: step.name) { out.append(origin.diagnostic("\(at).name", problem)) }
            if let first = seen[step.name] {
                out.append(origin.diagnostic("\(at).name", "duplicate step \"\(step.name.clipped)\" (first at spec.steps[\(first)])"))
            } else {
                seen[step.name] = i
            }
            if (step.command == nil) == (step.notebook == nil) {
                out.append(origin.diagnostic(at, "a step needs exactly one of \"command\" or \"notebook\""))
            }
            if let t = step.timeout, t.seconds < 1 { out.append(origin.diagnostic("\(at).timeout", "a timeout must be at least 1s")) }
            out += checkEnv(step.env, at: "\(at).env", origin)
            var paths: [(String, String, String)] = []  // field, path, base
            if let dir = step.workingDir { paths.append(("\(at).workingDir", dir, "the project")) }
            if let notebook = step.notebook { paths.append(("\(at).notebook.path", notebook.path, "the project")) }
            for (k, input) in (step.inputs ?? []).enumerated() { paths.append(("\(at).inputs[\(k)]", input, "the project")) }
            for (k, output) in (step.outputs ?? []).enumerated() { paths.append(("\(at).outputs[\(k)]", output, "the step's outputs")) }
            for (field, path, base) in paths {
                if let problem = ProjectPath.problem(path, base: base) { out.append(origin.diagnostic(field, problem)) }
            }
        }
        let names = spec.steps.map(\.name)
        for (i, step) in spec.steps.enumerated() {
            for (j, dep) in (step.dependsOn ?? []).enumerated() where !names.contains(dep) {
                out.append(
                    origin.diagnostic(
                        "spec.steps[\(i)].dependsOn[\(j)]",
                        "no step named \"\(dep.clipped)\"\(Suggestion.hint(for: dep, in: names))"))
            }
            let ancestors = StepGraph(spec.steps).ancestors(of: step.name)
            for (k, arg) in (step.command?.argv ?? []).enumerated() {
                if let open = Placeholder.unterminated(in: arg) {
                    out.append(origin.diagnostic("spec.steps[\(i)].command[\(k)]", "\"\(String(open).clipped)\" has no closing }"))
                }
                for p in Placeholder.all(in: arg) {
                    let field = "spec.steps[\(i)].command[\(k)]"
                    switch (p.namespace, p.name) {
                    case ("params", .some), ("datasets", .some), ("outputs", nil): break
                    case ("steps", .some(let s)):
                        if !ancestors.contains(s) {
                            out.append(origin.diagnostic(field, "\(p.text) names a step that \"\(step.name)\" does not depend on; add it to dependsOn"))
                        }
                    default:
                        out.append(
                            origin.diagnostic(field, "unknown placeholder \(p.text); expected ${params.NAME}, ${datasets.NAME}, ${outputs} or ${steps.NAME}"))
                    }
                }
            }
        }
        if let cycle = StepGraph(spec.steps).cycle() {
            out.append(origin.diagnostic("spec.steps", "steps form a cycle: \(cycle.joined(separator: " -> "))"))
        }
        for (field, ref) in [("spec.artifact", spec.artifact), ("spec.metrics", spec.metrics)] {
            if let ref, !names.contains(ref.step) {
                out.append(origin.diagnostic("\(field).step", "no step named \"\(ref.step.clipped)\"\(Suggestion.hint(for: ref.step, in: names))"))
            }
            if let ref, let problem = ProjectPath.problem(ref.path, base: "the step's outputs") {
                out.append(origin.diagnostic("\(field).path", problem))
            }
        }
        if let code = spec.codePath, let problem = ProjectPath.problem(code, base: "the project") {
            out.append(origin.diagnostic("spec.codePath", problem))
        }
        return out
    }

    /// The shortest `triggers.schedule`: each period is a whole training.
    static let shortestSchedule = TimeSpan(seconds: 60)

    static func check(_ spec: ModelSpec, _ origin: Origin) -> [Diagnostic] {
        var out: [Diagnostic] = []
        if let every = spec.triggers?.schedule, every.seconds < shortestSchedule.seconds {
            out.append(
                origin.diagnostic(
                    "spec.triggers.schedule",
                    "a schedule of \(every) would retrain more often than once a minute; the shortest is \(shortestSchedule)"))
        }
        for (i, gate) in (spec.promotion?.gates ?? []).enumerated() where MetricGate(parsing: gate) == nil {
            out.append(
                origin.diagnostic(
                    "spec.promotion.gates[\(i)]",
                    "invalid gate \"\(gate.clipped)\"; write METRIC OP NUMBER with OP one of >=, <=, >, <, == (for example \"accuracy >= 0.9\")"))
        }
        // Lists are short: a scan is cheaper than building a set per object.
        let datasets = spec.datasets ?? []
        for (i, d) in datasets.enumerated() where datasets[..<i].contains(d) {
            out.append(origin.diagnostic("spec.datasets[\(i)]", "dataset \"\(d.clipped)\" is listed twice"))
        }
        return out
    }

    static func check(_ spec: DeploymentSpec, _ origin: Origin) -> [Diagnostic] {
        var out: [Diagnostic] = []
        if spec.version < 1 { out.append(origin.diagnostic("spec.version", "versions are numbered from 1")) }
        if let address = spec.address, HostPort(parsing: address) == nil {
            out.append(origin.diagnostic("spec.address", "expected HOST:PORT such as 127.0.0.1:8700, found \"\(address.clipped)\""))
        }
        if spec.targets.isEmpty { out.append(origin.diagnostic("spec.targets", "a deployment needs at least one target")) }
        for (i, p) in spec.targets.enumerated() {
            if spec.targets[..<i].contains(where: { $0.target == p.target }) {
                out.append(origin.diagnostic("spec.targets[\(i)].target", "target \"\(p.target.clipped)\" is listed twice"))
            }
            if let r = p.replicas, r < 1 { out.append(origin.diagnostic("spec.targets[\(i)].replicas", "replicas must be at least 1")) }
            if let address = p.address, HostPort(parsing: address) == nil {
                out.append(origin.diagnostic("spec.targets[\(i)].address", "expected HOST:PORT such as 127.0.0.1:8700, found \"\(address.clipped)\""))
            }
        }
        for (k, arg) in (spec.serve.command?.argv ?? []).enumerated() {
            if let open = Placeholder.unterminated(in: arg) {
                out.append(origin.diagnostic("spec.serve.command[\(k)]", "\"\(String(open).clipped)\" has no closing }"))
            }
            for p in Placeholder.all(in: arg) {
                if p.namespace == "registry", p.name == "uri" {
                    if spec.serve.registry == nil {
                        out.append(origin.diagnostic("spec.serve.command[\(k)]", "\(p.text) needs spec.serve.registry: the mlflow target to serve from"))
                    }
                } else if p.name != nil || !servePlaceholders.contains(p.namespace) {
                    out.append(
                        origin.diagnostic(
                            "spec.serve.command[\(k)]",
                            "unknown placeholder \(p.text); expected one of ${artifact}, ${port}, ${host}, ${version}, ${model}, ${registry.uri}"))
                }
            }
        }
        out += checkEnv(spec.serve.env, at: "spec.serve.env", origin)
        if let dir = spec.serve.workingDir, let problem = ProjectPath.problem(dir, base: "the project") {
            out.append(origin.diagnostic("spec.serve.workingDir", problem))
        }
        if let path = spec.healthCheck?.path, !path.hasPrefix("/") {
            out.append(origin.diagnostic("spec.healthCheck.path", "a health check path starts with /"))
        }
        if let strategy = spec.strategy {
            switch strategy.type {
            case .canary:
                let steps = strategy.steps ?? []
                if steps.isEmpty || steps.last != 100 || zip(steps, steps.dropFirst()).contains(where: { $0 >= $1 })
                    || steps.contains(where: { $0 < 1 || $0 > 100 })
                {
                    out.append(origin.diagnostic("spec.strategy.steps", "canary steps are increasing percentages ending at 100, such as [10, 50, 100]"))
                }
                if spec.targets.count != 1 {
                    out.append(
                        origin.diagnostic(
                            "spec.strategy.type",
                            "a canary splits one address's traffic on one target; with \(spec.targets.count) targets use type: waves"))
                }
                if strategy.pause == nil {
                    out.append(origin.diagnostic("spec.strategy.pause", "a canary needs a pause: how long each step serves before its analysis"))
                }
            case .waves:
                let listed = (strategy.waves ?? []).flatMap { $0 }
                if listed.count != Set(listed).count || Set(listed) != Set(spec.targets.map(\.target)) {
                    out.append(origin.diagnostic("spec.strategy.waves", "waves must list each of the deployment's targets exactly once"))
                }
            case .allAtOnce:
                break
            }
            if strategy.steps != nil, strategy.type != .canary {
                out.append(origin.diagnostic("spec.strategy.steps", "steps are traffic percentages of a canary; a \(strategy.type.rawValue) rollout has none"))
            }
            if strategy.waves != nil, strategy.type != .waves {
                out.append(origin.diagnostic("spec.strategy.waves", "waves belong to type: waves; a \(strategy.type.rawValue) rollout has none"))
            }
            if strategy.pause != nil, strategy.type == .allAtOnce {
                out.append(origin.diagnostic("spec.strategy.pause", "an all-at-once rollout has one step and nothing to pause before"))
            }
            if strategy.onFailure != nil, spec.autoRollback != true {
                out.append(
                    origin.diagnostic(
                        "spec.strategy.onFailure", "onFailure chooses what autoRollback does after a failed rollout; set autoRollback: true"))
            }
            if let analysis = strategy.analysis {
                if strategy.type == .allAtOnce {
                    out.append(
                        origin.diagnostic(
                            "spec.strategy.analysis",
                            "analysis judges each step of a canary or each wave; an all-at-once rollout has none (use type: waves with one wave)"))
                }
                if strategy.type == .waves, analysis.readsTraffic, strategy.pause == nil {
                    out.append(
                        origin.diagnostic(
                            "spec.strategy.pause",
                            "an error rate or a latency is read over each wave's pause: set one, such as 1m"))
                }
                if let rate = analysis.maxErrorRate, !(0...1).contains(rate) {
                    out.append(origin.diagnostic("spec.strategy.analysis.maxErrorRate", "an error rate is a share between 0 and 1, such as 0.05"))
                }
                if let n = analysis.minRequests, n < 1 {
                    out.append(origin.diagnostic("spec.strategy.analysis.minRequests", "minRequests must be at least 1"))
                }
                if analysis.maxErrorRate == nil, analysis.maxLatencyP99 == nil, analysis.command == nil, analysis.metrics == nil {
                    out.append(
                        origin.diagnostic(
                            "spec.strategy.analysis", "an analysis judges something: set maxErrorRate, maxLatencyP99, command, metrics, or several"))
                }
                if let metrics = analysis.metrics {
                    if metrics.gates.isEmpty {
                        out.append(origin.diagnostic("spec.strategy.analysis.metrics.gates", "list at least one gate, such as \"errors_total <= 3\""))
                    }
                    for (i, gate) in metrics.gates.enumerated() where MetricGate(parsing: gate) == nil {
                        out.append(
                            origin.diagnostic("spec.strategy.analysis.metrics.gates[\(i)]", "a gate is METRIC OP NUMBER, such as \"errors_total <= 3\""))
                    }
                    if let path = metrics.path, !path.hasPrefix("/") {
                        out.append(origin.diagnostic("spec.strategy.analysis.metrics.path", "a metrics path starts with /"))
                    }
                }
                for (k, arg) in (analysis.command?.argv ?? []).enumerated() {
                    for p in Placeholder.all(in: arg) where p.name != nil || !Analysis.placeholders.contains(p.namespace) {
                        out.append(
                            origin.diagnostic(
                                "spec.strategy.analysis.command[\(k)]",
                                "unknown placeholder \(p.text); expected one of ${address}, ${version}, ${percent}, ${model}, ${target}, ${wave}"))
                    }
                }
            }
        }
        return out
    }

    static let servePlaceholders: Set<String> = ["artifact", "port", "host", "version", "model"]

    static func checkEnv(_ env: [String: EnvValue]?, at field: String, _ origin: Origin) -> [Diagnostic] {
        var out: [Diagnostic] = []
        for (name, value) in env ?? [:] {
            if !isEnvironmentName(name) {
                out.append(
                    origin.diagnostic(
                        "\(field).\(name)",
                        "invalid environment variable name \"\(name.clipped)\"; use letters, digits and '_', not starting with a digit"))
                continue
            }
            if case .literal = value, EnvValue.looksSecret(name) {
                out.append(
                    origin.diagnostic(
                        "\(field).\(name)",
                        "\(name) looks like a secret written inline; reference it: { secret: { env: \(name) } }"))
            }
        }
        return out.sorted(by: Diagnostic.ordered)
    }

    /// A name every shell and `execve` environment takes: `[A-Za-z_][A-Za-z0-9_]*`.
    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return name.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
    }

    static func isHTTPURL(_ s: String) -> Bool {
        (s.hasPrefix("http://") || s.hasPrefix("https://")) && s.count > 8
    }
}

/// `host:port`, as a Deployment's stable address.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init?(parsing text: String) {
        // Every Deployment's address is parsed on every load; in ASCII text a
        // byte is a Character, so the bytes give the same answer faster.
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            let bytes = text.utf8
            guard let colon = bytes.lastIndex(of: UInt8(ascii: ":")), colon != bytes.startIndex,
                let port = Int(Substring(bytes[bytes.index(after: colon)...])), (1...65535).contains(port)
            else { return nil }
            self.host = String(Substring(bytes[..<colon]))
            self.port = port
            return
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port), colon != text.startIndex
        else { return nil }
        self.host = String(text[..<colon])
        self.port = port
    }

    public var description: String { "\(host):\(port)" }
}
