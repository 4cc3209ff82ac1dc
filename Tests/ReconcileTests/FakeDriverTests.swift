import Foundation
import GantryTestSupport
import Lineage
import Planner
import Reconciler
import Source
import State
import Synchronization
import Targets
import Testing

/// The reconciler against `FakeDriver`: every action, a failure in each, and
/// recovery after a controller stopped between recording a launch and
/// finishing it. No Python, no processes, no peers.
@Suite struct FakeDriverTests {
    /// A reconciler over a project's repository with its own state, whose
    /// every target is `fake`.
    struct Rig {
        let project: TestProject
        let store: StateStore
        let workspace: Workspace
        let source: GitSource
        let fake: FakeDriver

        /// `location`: the repository Gantry follows, when not the project's
        /// work tree (a bare clone, which write-back commits to).
        init(_ project: TestProject, fake: FakeDriver = FakeDriver(), location: String? = nil) throws {
            self.project = project
            self.fake = fake
            let state = makeTemporaryDirectory("gantry-fake")
            workspace = Workspace(root: state, executable: gantryExecutable)
            store = try StateStore(directory: state)
            source = try GitSource(location: location ?? project.directory, ref: "main", path: "", cacheDirectory: workspace.sources)
        }

        /// A fresh reconciler over the same state: a restarted controller.
        func reconciler() -> Reconciler {
            Reconciler(store: store, workspace: workspace, writeBack: source, drivers: fake.factory)
        }

        @discardableResult
        func apply(_ reconciler: Reconciler? = nil) async throws -> (plan: Plan, report: Reconciler.Report) {
            let reconciler = reconciler ?? self.reconciler()
            let (desired, plan) = try await reconciler.plan(try source.fetch())
            return (plan, try await reconciler.apply(plan, desired: desired, actor: "test"))
        }

        func launch(_ key: String) throws -> IntentRecord? { try store.intent(key) }

        func trainKey(_ plan: Plan) throws -> String {
            let lineage = try #require(plan.actions.first { $0.kind == .train }?.lineage)
            return Planner.trainKey(model: "demo", digest: lineage.digest)
        }
    }

    @Test func trainAndDeployAreRecordedAndTheirLaunchesClosed() async throws {
        let rig = try Rig(try await TestProject(port: freePort()))
        let (plan, report) = try await rig.apply()
        #expect(report.result == .applied, "\(report.failed)")
        #expect(rig.fake.calls == [.train(model: "demo", adopted: nil), .deploy(deployment: "demo-prod", version: 1)])
        #expect(try rig.store.versions(of: "demo").map(\.number) == [1])
        #expect(try rig.store.deployment("demo-prod")?.version == 1, "the reconciler saves the record the driver returns")
        #expect(try rig.launch(try rig.trainKey(plan))?.status == .done)
        #expect(try rig.launch("deploy:demo-prod@local:1")?.status == .done)
        #expect(try rig.store.openIntents().isEmpty)
        // What the fake serves matches: nothing to do.
        #expect(try await rig.apply().report.result == .nothingToDo)
        #expect(rig.fake.calls.count == 2)
    }

    @Test func aFailedTrainingRegistersNothingAndSkipsTheDeployThatNeedsIt() async throws {
        let rig = try Rig(try await TestProject(port: freePort()))
        rig.fake.fail(.train, "no GPU")
        let (plan, report) = try await rig.apply()
        #expect(report.result == .failed)
        #expect(report.failed.map(\.error) == ["no GPU"])
        #expect(report.skipped.map(\.reason) == ["the training of demo failed"])
        #expect(rig.fake.count(.deploy) == 0)
        #expect(try rig.store.versions(of: "demo").isEmpty)
        #expect(try rig.launch(try rig.trainKey(plan))?.status == .failed)
        rig.fake.heal()
        #expect(try await rig.apply().report.result == .applied)
    }

    @Test func aFailedDeployKeepsNoRecordAndIsTriedAgain() async throws {
        let rig = try Rig(try await TestProject(port: freePort()))
        rig.fake.fail(.deploy, "node unreachable")
        let report = try await rig.apply().report
        #expect(report.result == .failed)
        #expect(report.failed.map(\.error) == ["node unreachable"])
        #expect(try rig.store.versions(of: "demo").count == 1, "the training stands")
        #expect(try rig.store.deployment("demo-prod") == nil)
        #expect(try rig.launch("deploy:demo-prod@local:1")?.status == .failed)
        rig.fake.heal()
        let again = try await rig.apply()
        #expect(again.plan.actions.map(\.kind) == [.deploy])
        #expect(again.report.result == .applied)
        #expect(try rig.store.deployment("demo-prod")?.version == 1)
    }

    @Test func aNewPinIsDeployedThenWhatServedBeforeIsRetiredOnceTheNewRecordIsKept() async throws {
        let project = try await TestProject(port: freePort())
        let rig = try Rig(project)
        try await rig.apply()
        project.write("data/rows.csv", "x,y\n1,2\n3,4\n5,6\n")
        try await project.commit("More rows")
        try await rig.apply()  // v2 trained; the pin stays at v1
        project.write("manifests/deployment.yaml", project.deployment(version: 2))
        try await project.commit("Serve v2")
        let store = rig.store
        let seen = Mutex<Int?>(nil)
        rig.fake.onRetire { _ in seen.withLock { $0 = (try? store.deployment("demo-prod"))??.version } }
        let (plan, report) = try await rig.apply()
        #expect(plan.actions.map(\.summary) == ["deploy Deployment/demo-prod demo@v1 -> v2: pinned 2, serving 1"])
        #expect(report.result == .applied)
        #expect(
            Array(rig.fake.calls.suffix(2)) == [
                .deploy(deployment: "demo-prod", version: 2),
                .retire(deployment: "demo-prod", version: 1, replacedBy: 2),
            ])
        #expect(seen.withLock { $0 } == 2, "the record of v2 was kept before v1 was retired")
    }

    @Test func anInvalidRevisionLeavesOpenLaunchesForTheNextValidOne() async throws {
        let project = try await TestProject(port: freePort())
        let rig = try Rig(project)
        let now = Date()
        try rig.store.save(
            IntentRecord(
                key: "deploy:demo-prod@local:1", kind: .deploy, object: "Deployment/demo-prod", detail: "{\"server\":9}",
                status: .running, target: "local", createdAt: now, updatedAt: now))
        project.write("manifests/broken.yaml", "kind: Model\nmetadata: { name: broken }\nspec: {}\n")
        try await project.commit("Break the manifests")
        #expect(try await rig.apply().report.result == .invalid)
        #expect(!rig.fake.calls.contains(.recover(key: "deploy:demo-prod@local:1")))
        #expect(try rig.launch("deploy:demo-prod@local:1")?.status == .running)
        project.remove("manifests/broken.yaml")
        try await project.commit("Mend them")
        try await rig.apply()
        #expect(rig.fake.calls.first == .recover(key: "deploy:demo-prod@local:1"))
        #expect(try rig.launch("deploy:demo-prod@local:1")?.status == .done, "recovered, then deployed again under the same key")
    }

    @Test func driftSeenByTheDriverIsRepaired() async throws {
        let rig = try Rig(try await TestProject(port: freePort()))
        try await rig.apply()
        rig.fake.lose("demo-prod")
        let (plan, report) = try await rig.apply()
        #expect(plan.actions.map(\.summary) == ["deploy Deployment/demo-prod demo@v1 -> v1: fake serves nothing (drift)"])
        #expect(report.result == .applied)
        #expect(rig.fake.count(.deploy) == 2)
    }

    @Test func aDeploymentGoneFromGitIsStoppedAndForgottenAndAFailedStopKeepsIt() async throws {
        let project = try await TestProject(port: freePort())
        let rig = try Rig(project)
        try await rig.apply()
        project.remove("manifests/deployment.yaml")
        try await project.commit("Retire demo-prod")
        rig.fake.fail(.stop, "permission denied")
        let failed = try await rig.apply()
        #expect(failed.plan.actions.map(\.kind) == [.prune])
        #expect(failed.report.result == .failed)
        #expect(try rig.store.deployment("demo-prod") != nil, "a prune that failed keeps the record, so it is tried again")
        rig.fake.heal()
        let pruned = try await rig.apply()
        #expect(pruned.plan.actions.map(\.kind) == [.prune])
        #expect(pruned.report.result == .applied)
        #expect(try rig.store.deployment("demo-prod") == nil)
        #expect(rig.fake.calls.last == .stop(deployment: "demo-prod"))
    }

    /// v2 of a model whose Deployment pins v1: the promotion writes a
    /// branch for review; a version that fails its gates is blocked; a
    /// write-back Git refuses fails and is retried by the next plan.
    @Test func promotionWritesTheBranchIsBlockedByGatesAndRetriedAfterAFailure() async throws {
        let project = try await TestProject(port: freePort())
        let rig = try Rig(project)
        try await rig.apply()

        // Gates fail: blocked, not failed.
        project.write("data/rows.csv", "x,y\n1,2\n3,4\n5,6\n")
        try await project.commit("More rows")
        rig.fake.setMetrics(["accuracy": 0.5])
        let blocked = try await rig.apply()
        #expect(blocked.plan.actions.map(\.kind) == [.train, .promote])
        #expect(blocked.report.result == .applied)
        #expect(blocked.report.skipped.map(\.reason) == ["v2 fails its gates: accuracy 0.5 fails accuracy >= 0.8"])
        #expect(try rig.store.version("demo", 2)?.promotion == "blocked: accuracy 0.5 fails accuracy >= 0.8")

        // Git refuses the branch (a ref gantry/demo-v3/… is in the way).
        rig.fake.setMetrics(["accuracy": 0.95])
        project.write("data/rows.csv", "x,y\n1,2\n3,4\n5,6\n7,8\n")
        try await project.commit("Even more rows")
        try await git(["branch", "gantry/demo-v3/blocker"], in: project.directory)
        let failed = try await rig.apply()
        #expect(failed.plan.actions.map(\.kind) == [.train, .promote])
        #expect(failed.report.result == .failed)
        #expect(try rig.store.version("demo", 3)?.promotion.hasPrefix("failed: ") == true)

        // The next plan retries the write-back, which now lands.
        try await git(["branch", "-D", "gantry/demo-v3/blocker"], in: project.directory)
        let retried = try await rig.apply()
        #expect(retried.plan.actions.map(\.summary).first?.hasPrefix("promote Model/demo v3: policy manual: retry writing the pin bump of v3") == true)
        #expect(retried.report.result == .applied)
        #expect(try rig.store.version("demo", 3)?.promotion.hasPrefix("created branch gantry/demo-v3") == true)
        let branches = try await git(["branch", "--list", "gantry/*"], in: project.directory)
        #expect(branches.contains("gantry/demo-v3"))
    }

    /// Starts `apply` and cancels it once the launch `key` is recorded in
    /// the state `detail` is expected to be in: a controller stopped there.
    func interrupt(_ rig: Rig, at key: @escaping @Sendable (Plan) throws -> String, detail: @escaping @Sendable (String) -> Bool) async throws {
        let reconciler = rig.reconciler()
        let (desired, plan) = try await reconciler.plan(try rig.source.fetch())
        let launchKey = try key(plan)
        let task = Task { try await reconciler.apply(plan, desired: desired, actor: "test") }
        try await eventually("the launch is recorded", timeout: .seconds(10)) {
            guard let intent = try rig.launch(launchKey) else { return false }
            return intent.status == .running && detail(intent.detail)
        }
        task.cancel()
        #expect(try await task.value.result == .interrupted)
        #expect(try rig.launch(launchKey)?.status == .running, "a stopped controller leaves its launch open")
    }

    @Test func aLaunchRecordedButNeverStartedIsStartedOnceByTheNextController() async throws {
        let rig = try Rig(try await TestProject(port: freePort()))
        rig.fake.hang(.train, .beforeStart)
        try await interrupt(rig, at: { try rig.trainKey($0) }, detail: { $0.isEmpty })
        let (plan, report) = try await rig.apply()
        #expect(report.result == .applied)
        #expect(
            rig.fake.calls.filter { if case .train = $0 { return true } else { return false } }
                == [.train(model: "demo", adopted: nil), .train(model: "demo", adopted: nil)],
            "nothing was started, so nothing is adopted")
        #expect(try rig.store.versions(of: "demo").count == 1)
        #expect(try rig.launch(try rig.trainKey(plan))?.status == .done)
    }

    @Test func aStartedTrainingIsAdoptedNotStartedAgain() async throws {
        let rig = try Rig(try await TestProject(port: freePort()))
        rig.fake.hang(.train, .afterStart)
        try await interrupt(rig, at: { try rig.trainKey($0) }, detail: { $0 == "{\"run\":1}" })
        let (plan, report) = try await rig.apply()
        #expect(plan.actions.first?.reason.hasSuffix("(a run of this lineage is in flight and will be adopted)") == true)
        #expect(report.result == .applied)
        #expect(rig.fake.calls.contains(.train(model: "demo", adopted: "{\"run\":1}")))
        #expect(try rig.store.versions(of: "demo").count == 1)
    }

    @Test func anInterruptedDeployIsCleanedUpByItsDriverThenDeployed() async throws {
        let rig = try Rig(try await TestProject(port: freePort()))
        try await rig.apply()
        // A controller killed mid-deploy of v1 (its record is what the
        // journal keeps until the deploy is closed).
        let now = Date()
        try rig.store.save(
            IntentRecord(
                key: "deploy:demo-prod@local:1", kind: .deploy, object: "Deployment/demo-prod", detail: "{\"server\":9}",
                status: .running, target: "local", createdAt: now, updatedAt: now))
        rig.fake.lose("demo-prod")
        let (plan, report) = try await rig.apply()
        #expect(plan.actions.map(\.kind) == [.deploy])
        #expect(report.result == .applied)
        let calls = rig.fake.calls
        let recovered = try #require(calls.firstIndex(of: .recover(key: "deploy:demo-prod@local:1")))
        let redeployed = try #require(calls.lastIndex(of: .deploy(deployment: "demo-prod", version: 1)))
        #expect(recovered < redeployed, "cleaned up before the deploy runs again")
        #expect(try rig.launch("deploy:demo-prod@local:1")?.status == .done)
    }

    @Test func aLaunchNoPlanAdoptsStaysOpenWhileItRunsAndClosesWhenItsDriverCleansUp() async throws {
        let rig = try Rig(try await TestProject(port: freePort()))
        let now = Date()
        try rig.store.save(
            IntentRecord(
                key: "train:demo:sha256:old", kind: .train, object: "Model/demo", detail: "{\"run\":7}",
                status: .running, target: "local", createdAt: now, updatedAt: now))
        rig.fake.setRecovery(.stillRunning)
        try await rig.apply()
        #expect(rig.fake.calls.first == .recover(key: "train:demo:sha256:old"))
        #expect(try rig.launch("train:demo:sha256:old")?.status == .running)
        rig.fake.setRecovery(.cleanedUp("stopped run 7"))
        try await rig.apply()
        #expect(try rig.launch("train:demo:sha256:old")?.status == .failed)
    }

    @Test func aTargetWhoseDriverCannotBeBuiltClosesItsLaunch() async throws {
        let project = try await TestProject(port: freePort())
        let rig = try Rig(project)
        let now = Date()
        try rig.store.save(
            IntentRecord(
                key: "train:demo:sha256:gone", kind: .train, object: "Model/demo", detail: "{}",
                status: .running, target: "retired-cluster", createdAt: now, updatedAt: now))
        try await rig.apply()
        #expect(!rig.fake.calls.contains(.recover(key: "train:demo:sha256:gone")))
        #expect(try rig.launch("train:demo:sha256:gone")?.status == .failed)
    }
}
