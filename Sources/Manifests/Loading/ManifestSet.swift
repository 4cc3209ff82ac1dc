import Synchronization
import YAML

/// Every object of a project, by kind and name: the desired state's input.
///
///     let loaded = ManifestSet.assemble(files)
///     if loaded.diagnostics.isEmpty { plan(loaded.set) }
public struct ManifestSet: Sendable {
    public internal(set) var targets: [String: Entry<TargetSpec>] = [:]
    public internal(set) var datasets: [String: Entry<DatasetSpec>] = [:]
    public internal(set) var pipelines: [String: Entry<PipelineSpec>] = [:]
    public internal(set) var models: [String: Entry<ModelSpec>] = [:]
    public internal(set) var deployments: [String: Entry<DeploymentSpec>] = [:]
    /// The Models' and Deployments' names in order, the order a plan lists
    /// them in: sorted once when the set is assembled, and shared by the
    /// sets after it while the names stay.
    public private(set) var names = SortedNames(models: [], deployments: [])
    /// Tells sets apart: every set assembled or updated gets its own.
    public private(set) var generation: UInt64 = ManifestSet.nextGeneration()
    /// For a set updated from another (`replacing`): that set's generation
    /// and the Models and Deployments whose entries were replaced. Every
    /// other entry is the other set's, and the names are the same.
    public private(set) var replaced: (base: UInt64, models: Set<String>, deployments: Set<String>)?
    /// The Models with `triggers.schedule`, and their periods.
    public private(set) var schedules: [String: TimeSpan] = [:]
    /// The Models with `triggers.runtime`: a plan reads only their Python
    /// environments, without visiting every Model to find them.
    public private(set) var runtimeTriggered: Set<String> = []
    /// The Deployments that take their version from another
    /// (`spec.promotion.from`), and that other: a plan visits only these.
    public private(set) var stages: [String: String] = [:]

    private static let generations = Atomic<UInt64>(0)
    static func nextGeneration() -> UInt64 { generations.add(1, ordering: .relaxed).newValue }

    /// Sorted names, shared by reference.
    public final class SortedNames: Sendable {
        public let models: [String]
        public let deployments: [String]

        init(models: [String], deployments: [String]) {
            self.models = models
            self.deployments = deployments
        }
    }

    public init() {}

    /// The `local` target exists without a manifest: it is the embedded default.
    public static let implicitLocalTarget = "local"

    public func targetType(_ name: String) -> TargetSpec.TargetType? {
        if let t = targets[name] { return t.spec.type }
        return name == Self.implicitLocalTarget ? .local : nil
    }

    public var count: Int { targets.count + datasets.count + pipelines.count + models.count + deployments.count }

    /// Builds the set from decoded files and checks what spans objects:
    /// duplicate names and references between objects.
    public static func assemble(_ files: [DecodedFile]) -> (set: ManifestSet, diagnostics: [Diagnostic]) {
        var set = ManifestSet()
        var diagnostics = files.flatMap(\.diagnostics)
        func insert<S>(_ e: Entry<S>, into table: inout [String: Entry<S>]) {
            if let first = table[e.name] {
                let at = first.origin.mark(of: FieldPath(parsing: "metadata.name"))
                diagnostics.append(
                    e.origin.diagnostic(
                        "metadata.name",
                        "duplicate \(e.object.kind.rawValue) \"\(e.name.clipped)\" (first defined at \(first.origin.file):\(at))"))
            } else {
                table[e.name] = e
            }
        }
        for file in files.sorted(by: { $0.path < $1.path }) {
            for m in file.manifests {
                switch m {
                case .target(let e): insert(e, into: &set.targets)
                case .dataset(let e): insert(e, into: &set.datasets)
                case .pipeline(let e): insert(e, into: &set.pipelines)
                case .model(let e): insert(e, into: &set.models)
                case .deployment(let e): insert(e, into: &set.deployments)
                }
            }
        }
        // Objects that failed to decode, or files that are not YAML at all,
        // would make every reference to them look missing: report the cause,
        // not the cascade.
        set.names = SortedNames(models: set.models.keys.sorted(), deployments: set.deployments.keys.sorted())
        set.schedules = set.models.compactMapValues { $0.spec.triggers?.schedule }
        set.runtimeTriggered = Set(set.models.values.filter { $0.spec.triggers?.runtime == true }.map(\.name))
        set.stages = set.deployments.compactMapValues { $0.spec.promotion?.from }
        let unknown = files.reduce(into: [Kind: Set<String>]()) { acc, f in acc.merge(f.undecodable) { $0.union($1) } }
        if files.allSatisfy(\.parsed) {
            diagnostics += References(set: set, undecodable: unknown).check()
        }
        return (set, diagnostics.sorted(by: Diagnostic.ordered))
    }
}

extension ManifestSet {
    /// The set after `removed` files gave way to `added` ones, worked out
    /// from `self` (a set assembled without a single diagnostic) instead of
    /// from every file: a push that edits one file of a thousand checks one
    /// file's objects. Nil when the change is one the whole set must be
    /// assembled again for: a file that fails to decode, or a change to the
    /// kinds and names the changed files declare, or to any object other
    /// than Models and Deployments, which the references of every other
    /// object can depend on. A Model's or Deployment's references are
    /// checked afresh; no other object's can depend on them but by name,
    /// and the names (and so `names`) stay.
    public func replacing(_ removed: [DecodedFile], with added: [DecodedFile]) -> (set: ManifestSet, diagnostics: [Diagnostic])? {
        func declared(_ files: [DecodedFile]) -> [String]? {
            var out: [String] = []
            for file in files {
                guard file.parsed, file.undecodable.isEmpty else { return nil }
                for m in file.manifests {
                    guard m.kind == .Model || m.kind == .Deployment else { return nil }
                    out.append("\(m.kind.rawValue)/\(m.name)")
                }
            }
            return out.sorted()
        }
        guard let before = declared(removed), let after = declared(added), before == after,
            Set(after).count == after.count
        else { return nil }
        var set = self
        set.generation = Self.nextGeneration()
        var models: Set<String> = []
        var deployments: Set<String> = []
        var diagnostics = added.flatMap(\.diagnostics)
        let references = References(set: set, undecodable: [:])
        var placeholders: [String: [References.StepPlaceholder]] = [:]
        for file in added {
            for m in file.manifests {
                switch m {
                case .model(let e):
                    set.models[e.name] = e
                    set.schedules[e.name] = e.spec.triggers?.schedule
                    if e.spec.triggers?.runtime == true {
                        set.runtimeTriggered.insert(e.name)
                    } else {
                        set.runtimeTriggered.remove(e.name)
                    }
                    models.insert(e.name)
                    if placeholders[e.spec.pipeline] == nil, let p = pipelines[e.spec.pipeline] {
                        placeholders[e.spec.pipeline] = References.modelPlaceholders(of: p.spec)
                    }
                    diagnostics += references.check(e, placeholders: placeholders[e.spec.pipeline] ?? [])
                case .deployment(let e):
                    set.deployments[e.name] = e
                    set.stages[e.name] = e.spec.promotion?.from
                    deployments.insert(e.name)
                    diagnostics += references.check(e)
                default:
                    return nil  // excluded above
                }
            }
        }
        set.replaced = (generation, models, deployments)
        return (set, diagnostics.sorted(by: Diagnostic.ordered))
    }
}

/// Checks references between objects, with did-you-mean.
struct References {
    let set: ManifestSet
    let undecodable: [Kind: Set<String>]

    /// Whether an object of that name exists but failed to decode (its own
    /// errors are reported already).
    func failed(_ kind: Kind, _ name: String) -> Bool {
        undecodable[kind]?.contains(name) ?? false
    }

    func missing(_ kind: Kind, _ name: String, among names: some Sequence<String>) -> String {
        "no \(kind.rawValue) named \"\(name.clipped)\"\(Suggestion.hint(for: name, in: names))"
    }

    var targetNames: [String] { Array(set.targets.keys) + (set.targets[ManifestSet.implicitLocalTarget] == nil ? [ManifestSet.implicitLocalTarget] : []) }

    /// The `${params.*}` and `${datasets.*}` placeholders of one pipeline's
    /// steps, in step and argument order: found once per pipeline rather
    /// than once per model that uses it.
    struct StepPlaceholder {
        var step: Int
        var stepName: String
        var placeholder: Placeholder
    }

    static func modelPlaceholders(of pipeline: PipelineSpec) -> [StepPlaceholder] {
        var out: [StepPlaceholder] = []
        for (i, step) in pipeline.steps.enumerated() {
            for arg in step.command?.argv ?? [] {
                for p in Placeholder.all(in: arg) where p.name != nil && (p.namespace == "params" || p.namespace == "datasets") {
                    out.append(StepPlaceholder(step: i, stepName: step.name, placeholder: p))
                }
            }
        }
        return out
    }

    func check() -> [Diagnostic] {
        var out: [Diagnostic] = []
        var placeholders: [String: [StepPlaceholder]] = [:]
        for model in set.models.values {
            let pipeline = model.spec.pipeline
            if placeholders[pipeline] == nil, let p = set.pipelines[pipeline] {
                placeholders[pipeline] = Self.modelPlaceholders(of: p.spec)
            }
            out += check(model, placeholders: placeholders[pipeline] ?? [])
        }
        for deployment in set.deployments.values {
            out += check(deployment)
        }
        return out
    }

    /// A later stage names an earlier Deployment of the same model, and the
    /// chain of stages ends (no Deployment is its own ancestor).
    func checkStage(_ name: String, _ promotion: StagePromotion, model: String, _ o: Origin) -> [Diagnostic] {
        var out: [Diagnostic] = []
        if promotion.from == name {
            out.append(o.diagnostic("spec.promotion.from", "a Deployment cannot take its version from itself"))
        } else if let source = set.deployments[promotion.from] {
            if source.spec.model != model {
                out.append(
                    o.diagnostic(
                        "spec.promotion.from",
                        "\(promotion.from) serves model \(source.spec.model), this Deployment \(model): a stage promotes versions of one model"))
            }
            var seen: Set<String> = [name]
            var next: String? = promotion.from
            while let current = next {
                if !seen.insert(current).inserted {
                    out.append(o.diagnostic("spec.promotion.from", "the stages loop back to \(current): one of them must be the first"))
                    break
                }
                next = set.deployments[current]?.spec.promotion?.from
            }
        } else if !failed(.Deployment, promotion.from) {
            out.append(o.diagnostic("spec.promotion.from", missing(.Deployment, promotion.from, among: set.deployments.keys)))
        }
        for (i, gate) in (promotion.gates ?? []).enumerated() where MetricGate(parsing: gate) == nil {
            out.append(o.diagnostic("spec.promotion.gates[\(i)]", "a gate is METRIC OP NUMBER, such as \"accuracy >= 0.9\""))
        }
        return out
    }

    func check(_ deployment: Entry<DeploymentSpec>) -> [Diagnostic] {
        var out: [Diagnostic] = []
        let o = deployment.origin
        let spec = deployment.spec
        if set.models[spec.model] == nil, !failed(.Model, spec.model) {
            out.append(o.diagnostic("spec.model", missing(.Model, spec.model, among: set.models.keys)))
        }
        for (i, placement) in spec.targets.enumerated() {
            out += checkTarget(placement.target, for: .serve, at: "spec.targets[\(i)].target", o)
            if let replicas = placement.replicas, replicas > 1, let type = set.targetType(placement.target),
                !type.capabilities.contains(.replicas)
            {
                out.append(
                    o.diagnostic(
                        "spec.targets[\(i)].replicas",
                        "replicas on \(type.rawValue) targets are not implemented yet: one server runs there; local, agent and sagemaker targets run replicas"))
            }
            if let type = set.targetType(placement.target) {
                out += checkServe(spec.serve, on: type, placement.target, o)
                if placement.address != nil, type != .local, type != .agent {
                    out.append(
                        o.diagnostic(
                            "spec.targets[\(i)].address",
                            "an address applies to local and agent targets, where Gantry forwards it; a \(type.rawValue) target has its own"))
                }
                if spec.strategy?.type == .canary, !type.capabilities.contains(.splitTraffic) {
                    out.append(
                        o.diagnostic(
                            "spec.strategy.type",
                            "a canary needs a target that splits traffic between versions; \(placement.target) is of type \(type.rawValue), which cannot yet (local, agent and sagemaker targets can); use type: all-at-once"
                        ))
                }
                if spec.strategy?.analysis?.readsTraffic == true, !type.capabilities.contains(.countRequests) {
                    out.append(
                        o.diagnostic(
                            "spec.strategy.analysis",
                            "an error rate or a latency is read by the forwarder of local and agent targets; \(placement.target) is of type \(type.rawValue), which has none; judge it with analysis.command"
                        ))
                }
                if spec.strategy?.analysis?.metrics != nil, type != .local, type != .agent {
                    out.append(
                        o.diagnostic(
                            "spec.strategy.analysis.metrics",
                            "a model server's metrics are read on local and agent targets, where Gantry or its agent reaches its port; on \(type.rawValue) targets use analysis.command"
                        ))
                }
                if type == .local, spec.targets[..<i].contains(where: { set.targetType($0.target) == .local }) {
                    out.append(
                        o.diagnostic(
                            "spec.targets[\(i)].target",
                            "a second local target is this machine again: list one local target per Deployment"))
                }
            }
        }
        if let promotion = spec.promotion {
            out += checkStage(deployment.name, promotion, model: spec.model, o)
        }
        // The stable address is what Gantry forwards on local and agent
        // targets; elsewhere the target has its own (an endpoint, a route).
        let forwarded: Set<TargetSpec.TargetType> = [.local, .agent]
        let types = spec.targets.map { set.targetType($0.target) }
        if spec.address != nil, !types.contains(nil), !types.contains(where: { forwarded.contains($0!) }) {
            out.append(
                o.diagnostic(
                    "spec.address",
                    "an address applies to local and agent targets, where Gantry forwards it; \(Set(types.map { $0!.rawValue }).sorted().joined(separator: " and ")) targets have their own"
                ))
        }
        for (i, placement) in spec.targets.enumerated() where spec.address == nil && placement.address == nil {
            if let type = set.targetType(placement.target), forwarded.contains(type) {
                out.append(
                    o.diagnostic(
                        "spec.targets[\(i)]",
                        "serving on \(type.rawValue) target \(placement.target) needs a stable address: set spec.address or spec.targets[\(i)].address"))
            }
        }
        if spec.targets.contains(where: { set.targetType($0.target) == .mlflow }),
            let problem = RegistryAlias.problem(with: spec.serve.alias ?? deployment.name)
        {
            out.append(o.diagnostic("spec.serve.alias", problem + (spec.serve.alias == nil ? " (the alias defaults to the Deployment's name)" : "")))
        }
        return out
    }

    /// The serve field a target of `type` needs.
    func checkServe(_ serve: Serve, on type: TargetSpec.TargetType, _ target: String, _ o: Origin) -> [Diagnostic] {
        let needed: (field: String, present: Bool)? =
            switch type {
            case .local, .agent: ("command", serve.effectiveCommand != nil)
            case .ray: ("importPath", serve.importPath != nil)
            case .sagemaker: ("image", serve.image != nil)
            case .mlflow: nil
            }
        var out: [Diagnostic] = []
        if let needed, !needed.present {
            out.append(o.diagnostic("spec.serve", "missing required field \"\(needed.field)\" to serve on \(type.rawValue) target \(target)"))
        }
        if type == .sagemaker {
            // SageMaker shows a model's environment to anyone who may
            // describe it.
            for (name, value) in (serve.env ?? [:]).sorted(by: { $0.key < $1.key }) {
                if case .secret = value {
                    out.append(
                        o.diagnostic(
                            "spec.serve.env.\(name)",
                            "a secret cannot be given to a SageMaker model (SageMaker shows its environment to anyone who can describe it; target \(target)); give the container its secret through its execution role"
                        ))
                }
            }
        }
        if let registry = serve.registry {
            if type != .local && type != .agent {
                out.append(
                    o.diagnostic(
                        "spec.serve.registry",
                        "serving from a registry runs `mlflow models serve` on a local or agent target; target \(target) is \(type.rawValue)"))
            } else if let t = set.targets[registry], t.spec.type != .mlflow {
                out.append(o.diagnostic("spec.serve.registry", "target \"\(registry.clipped)\" is \(t.spec.type.rawValue), not an mlflow registry"))
            } else if set.targets[registry] == nil, !failed(.Target, registry) {
                out.append(o.diagnostic("spec.serve.registry", missing(.Target, registry, among: targetNames)))
            }
        }
        return out
    }

    func check(_ model: Entry<ModelSpec>, placeholders: [StepPlaceholder]) -> [Diagnostic] {
        var out: [Diagnostic] = []
        let o = model.origin
        let spec = model.spec
        for (i, d) in (spec.datasets ?? []).enumerated() where set.datasets[d] == nil && !failed(.Dataset, d) {
            out.append(o.diagnostic("spec.datasets[\(i)]", missing(.Dataset, d, among: set.datasets.keys)))
        }
        out += checkTarget(spec.target, for: .train, at: "spec.target", o)
        if set.targetType(spec.target) == .sagemaker {
            for (i, d) in (spec.datasets ?? []).enumerated() {
                guard let dataset = set.datasets[d], dataset.spec.source.s3 == nil else { continue }
                let source = dataset.spec.source.path != nil ? "a path" : "a URL"
                out.append(
                    o.diagnostic(
                        "spec.datasets[\(i)]",
                        "dataset \"\(d.clipped)\" is read from \(source); a sagemaker training job (target \(spec.target)) reads its datasets from S3 (spec.source.s3)"
                    ))
            }
        }
        if let type = set.targetType(spec.target), type == .ray || type == .sagemaker {
            for (i, d) in (spec.datasets ?? []).enumerated() where set.datasets[d]?.spec.downloaded == true {
                out.append(
                    o.diagnostic(
                        "spec.datasets[\(i)]",
                        "dataset \"\(d.clipped)\" is downloaded into the snapshot store for the training (snapshot: true); a \(type.rawValue) training (target \(spec.target)) reads its data itself"
                    ))
            }
        }
        if spec.triggers?.runtime == true, let type = set.targetType(spec.target), type != .local {
            out.append(
                o.diagnostic(
                    "spec.triggers.runtime",
                    "the Python environment is compared on this machine, where local trainings run; target \(spec.target) is \(type.rawValue)"))
        }
        guard let pipeline = set.pipelines[spec.pipeline] else {
            if failed(.Pipeline, spec.pipeline) { return out }
            out.append(o.diagnostic("spec.pipeline", missing(.Pipeline, spec.pipeline, among: set.pipelines.keys)))
            return out
        }
        if spec.triggers?.runtime == true, pipeline.spec.pythonStep == nil {
            out.append(
                o.diagnostic(
                    "spec.triggers.runtime",
                    "no step of pipeline \"\(pipeline.name)\" runs Python (a command whose program is python… or a notebook), whose environment this trigger compares"
                ))
        }
        // The pipeline's placeholders must be satisfiable by this model.
        let datasets = spec.datasets ?? []
        for s in placeholders {
            let p = s.placeholder
            let name = p.name!
            if p.namespace == "params", pipeline.spec.params?[name] == nil, spec.params?[name] == nil {
                let params = Set((pipeline.spec.params ?? [:]).keys).union((spec.params ?? [:]).keys)
                out.append(
                    o.diagnostic(
                        "spec.params",
                        "pipeline \"\(pipeline.name)\" step \"\(s.stepName)\" uses \(p.text), which neither the pipeline nor this model sets\(Suggestion.hint(for: name, in: params))"
                    ))
            }
            if p.namespace == "datasets", !datasets.contains(name) {
                out.append(
                    o.diagnostic(
                        "spec.datasets",
                        "pipeline \"\(pipeline.name)\" step \"\(s.stepName)\" (spec.steps[\(s.step)]) reads \(p.text); list \"\(name)\" in this model's datasets"
                    ))
            }
        }
        return out
    }

    func checkTarget(_ name: String, for capability: TargetSpec.Capability, at field: @autoclosure () -> String, _ o: Origin) -> [Diagnostic] {
        if let t = set.targets[name] {
            return t.spec.can(capability)
                ? []
                : [
                    o.diagnostic(
                        field(),
                        "target \"\(name.clipped)\" does not allow \(capability.rawValue); its capabilities are \((t.spec.capabilities ?? []).map(\.rawValue).joined(separator: ", "))"
                    )
                ]
        }
        if name == ManifestSet.implicitLocalTarget || failed(.Target, name) { return [] }
        return [o.diagnostic(field(), missing(.Target, name, among: targetNames))]
    }
}
