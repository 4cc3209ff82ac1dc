import Foundation
import Manifests
import Planner
import State
import Targets

extension Reconciler {
    /// What would make the plan's actions fail on their targets, said by the
    /// plan before anything runs: a target whose driver cannot be built (a
    /// credential that is not set), or a version whose artifact a SageMaker
    /// endpoint cannot load. Without these, a training would run for hours
    /// and only the deploy after it would fail.
    ///
    ///     plan.warnings += readinessWarnings(plan, desired.manifests, versions: observed.versions)
    func readinessWarnings(_ plan: Plan, _ manifests: ManifestSet, versions: [String: [VersionRecord]]) -> [String] {
        var out: [String] = []
        var usable: [String: String?] = [:]  // target -> the reason it cannot be used
        for action in plan.actions where action.kind == .train || action.kind == .deploy {
            guard let target = action.target else { continue }
            if usable[target] == nil {
                do {
                    _ = try driver(target, manifests)
                    usable[target] = .some(nil)
                } catch {
                    usable[target] = .some("\(error)")
                }
            }
            if let problem = usable[target] ?? nil {
                out.append("\(action.object): \(action.kind.rawValue) on target \(target) will fail: \(problem)")
            }
            if action.kind == .deploy, manifests.targetType(target) == .sagemaker, case let model = action.model,
               let version = versions[model]?.first(where: { $0.number == action.version }),
               Self.isLocalDirectory(version.artifactPath) {
                out.append("\(action.object): deploy on sagemaker target \(target) will fail: the artifact of \(model)@v\(version.number) is a directory (\(version.artifactPath)); SageMaker loads one file, such as a model.tar.gz")
            }
        }
        return out
    }

    static func isLocalDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return path.hasPrefix("/") && FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
