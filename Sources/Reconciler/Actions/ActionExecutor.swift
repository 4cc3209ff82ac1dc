import Lineage
import Planner

/// Carries out one kind of action. Each lives in a file of its own; the
/// selector below picks the one for an action's step.
protocol ActionExecutor: Sendable {
    func run(_ reconciler: Reconciler, desired: DesiredState) async throws
}

extension Reconciler {
    /// The executor for `action`, holding its step's values.
    func executor(for action: Action) -> any ActionExecutor {
        switch action.step {
        case .train(let model, _, let target, let lineage):
            return TrainExecutor(model: model, target: target, lineage: lineage)
        case .promote(let model, let version):
            return PromoteExecutor(model: model, version: version)
        case .promoteStage(let deployment, let model, let version, let from):
            return StagePromoteExecutor(deployment: deployment, model: model, version: version, from: from)
        case .deploy(let deployment, let model, let version, let from, let target):
            return DeployExecutor(deployment: deployment, model: model, version: version, fromVersion: from, target: target)
        case .rollout(let deployment, let model, let version, let waves, let rollingBack):
            return RolloutExecutor(deployment: deployment, model: model, version: version, waves: waves, rollingBack: rollingBack)
        case .prune(let deployment, _, _, let target):
            return PruneExecutor(deployment: deployment, target: target)
        }
    }
}
