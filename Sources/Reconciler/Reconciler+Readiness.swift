import Foundation
import Manifests
import Planner
import Processes
import StableAddress
import State
import Targets

extension Reconciler {
    /// What would make the plan's actions fail on their targets, said by the
    /// plan before anything runs: a target whose driver cannot be built (a
    /// credential that is not set), or a version whose artifact a SageMaker
    /// endpoint cannot load. Without these, a training would run for hours
    /// and only the deploy after it would fail.
    ///
    ///     plan.blocked += readinessWarnings(plan, desired.manifests, versions: observed.versions, deployments: observed.deployments)
    func readinessWarnings(
        _ plan: Plan, _ manifests: ManifestSet, versions: [String: [VersionRecord]], deployments: [Slot: DeploymentRecord] = [:]
    ) -> [Note] {
        var out: [Note] = []
        var usable: [String: String?] = [:]  // target -> the reason it cannot be used
        // One read of the kernel's socket tables for every address checked
        // below; only a port some socket holds is tried with a bind.
        let held = lazy(ListeningSockets.heldPorts)
        for action in plan.actions where action.kind == .train || action.kind == .deploy || action.kind == .rollout {
            for target in action.targets {
                if usable[target] == nil {
                    do {
                        _ = try driver(target, manifests)
                        usable[target] = .some(nil)
                    } catch {
                        usable[target] = .some("\(error)")
                    }
                }
                if let problem = usable[target] ?? nil {
                    out.append(Note(action.object, .targetUnusable(action: action.kind, target: target, problem: problem)))
                }
                if action.kind != .train, manifests.targetType(target) == .local,
                    let taken = addressTaken(action, target, manifests, deployments, held: held.value)
                {
                    out.append(Note(action.object, .targetUnusable(action: action.kind, target: target, problem: taken)))
                }
                if action.kind != .train, manifests.targetType(target) == .sagemaker, case let model = action.model,
                    let version = versions[model]?.first(where: { $0.number == action.version }),
                    Self.isLocalDirectory(version.artifactPath)
                {
                    out.append(Note(action.object, .directoryArtifact(target: target, model: model, version: version.number, path: version.artifactPath)))
                }
            }
        }
        return out
    }

    /// Why the stable address a deploy on this machine would forward is
    /// already taken, naming where Git declares it; nil when it is free or
    /// this Deployment's own forwarder holds it.
    func addressTaken(
        _ action: Action, _ target: String, _ manifests: ManifestSet, _ deployments: [Slot: DeploymentRecord], held: Set<Int>? = nil
    ) -> String? {
        guard action.object.hasPrefix("Deployment/") else { return nil }
        let name = String(action.object.dropFirst("Deployment/".count))
        // The address as placed on this target, read without copying the
        // spec: a plan may check 10,000 of them.
        guard let entry = manifests.deployments[name], let address = entry.spec.targets.first(where: { $0.target == target })?.address ?? entry.spec.address
        else { return nil }
        // A port nothing listens on is free: no parse, no bind.
        if let held, let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), !held.contains(port) {
            return nil
        }
        // The records the observation already read, not the store again.
        if deployments[Slot(name, target)]?.address == address { return nil }
        guard let endpoint = Endpoint(parsing: address), endpoint.isInUse else { return nil }
        let index = entry.spec.targets.firstIndex { $0.target == target }
        let field = index.flatMap { entry.spec.targets[$0].address != nil ? "spec.targets[\($0)].address" : nil } ?? "spec.address"
        let holder = deployments.values.first { $0.address == address }.map { "Deployment/\($0.name)" } ?? "another process"
        return "address \(address) (\(field) at \(entry.origin.location(of: field))) is already in use by \(holder)"
    }

    static func isLocalDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return path.hasPrefix("/") && FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}

/// A value worked out the first time it is read, and kept.
final class Lazy<T> {
    private let make: () -> T
    private var made: T?
    init(_ make: @escaping () -> T) { self.make = make }
    var value: T {
        if let made { return made }
        let v = make()
        made = v
        return v
    }
}

func lazy<T>(_ make: @escaping () -> T) -> Lazy<T> { Lazy(make) }
