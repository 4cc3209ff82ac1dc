import Foundation
import GantryTestSupport
import HTTP
import Testing

@testable import Planner
@testable import Reconciler
@testable import State
@testable import Targets

@Suite(.serialized, .timeLimit(.minutes(3)))
struct ReconcileTests {
    @Test func aCommitThatPinsVersion1TrainsAndServesItAndRecordsTheAuthor() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        defer { Task { await h.tearDown() } }

        let plan = try await h.plan()
        #expect(plan.actions.map(\.kind) == [.train, .deploy], "\(plan.text)")
        #expect(plan.actions.first?.reason == "no version yet")
        #expect(try h.store.versions(of: "demo").isEmpty, "planning trains nothing")

        let (_, report) = try await h.apply()
        #expect(report.result == .applied)
        let versions = try h.store.versions(of: "demo")
        #expect(versions.map(\.number) == [1])
        #expect(versions[0].metricValues == ["accuracy": 0.9])
        #expect(versions[0].gatesPassed)
        let body = try await h.get()
        #expect(body == #"{"version": "1", "quality": 0.9}"#)

        let reconcile = try #require(try h.store.reconciles().first)
        #expect(reconcile.author == "Ada Lovelace <ada@example.com>")
        #expect(reconcile.subject == "Add the demo model")
        #expect(try h.store.auditLog().map(\.action).sorted() == ["deploy", "train"])

        let decoded = h.source.decodeCount
        #expect(decoded == 4)
        let (again, second) = try await h.apply()
        #expect(again.actions.isEmpty, "a second reconcile has nothing to do: \(again.actions.map(\.summary))")
        #expect(second.result == .nothingToDo)
        #expect(h.source.decodeCount == decoded, "an unchanged revision is not decoded again")
        await h.tearDown()
    }

    @Test func aDataChangeRetrainsOnceAndAREADMEChangeRetrainsNothing() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        try await h.apply()

        project.write("README.md", "docs only\n")
        try await project.commit("Document")
        #expect(try await h.plan().actions.isEmpty, "a commit that changes no input retrains nothing")

        project.write("data/rows.csv", "x,y\n1,2\n3,4\n5,6\n")
        try await project.commit("More rows")
        let plan = try await h.plan()
        #expect(plan.actions.map(\.kind) == [.train, .promote])
        let action = try #require(plan.actions.first)
        #expect(action.version == 2)
        #expect(action.reason.hasPrefix("dataset rows changed (git:"))
        try await h.apply()
        #expect(try h.store.versions(of: "demo").map(\.number) == [1, 2])
        #expect(try h.store.deployment("demo-prod")?.version == 1, "Git still pins 1")
        // Policy manual on a work tree: the pin bump waits on a branch for review.
        let proposed = try await git(["show", "gantry/demo-v2:manifests/deployment.yaml"], in: project.directory)
        #expect(proposed.contains("version: 2"))
        #expect(try h.store.version("demo", 2)?.promotion.hasPrefix("created branch gantry/demo-v2") == true)
        #expect(try await h.plan().actions.isEmpty)
        await h.tearDown()
    }

    @Test func changingThePinSwitchesVersionsWithoutAFailedRequest() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        try await h.apply()
        try project.setQuality("0.95")
        try await project.commit("Tune quality")
        try await h.apply()  // trains v2
        project.write("manifests/deployment.yaml", project.deployment(version: 2))
        try await project.commit("Promote demo to v2")

        let plan = try await h.plan()
        #expect(plan.actions.map(\.summary) == ["deploy Deployment/demo-prod demo@v1 -> v2: pinned 2, serving 1"])

        // Requests keep flowing to the stable address through the switch:
        // the load runs until the old version has answered before the switch
        // and the new one three times after it, whatever the machine's speed.
        let port = project.port
        let switched = Flag()
        let load = Task.detached { () -> (failed: Int, before: [String], after: [String]) in
            var failed = 0
            var before: [String] = []
            var after: [String] = []
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline, after.filter({ $0 == "2" }).count < 3 {
                let done = switched.isSet
                do {
                    let response = try await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:\(port)/", timeout: .seconds(5)))
                    let version = (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])?["version"] as? String
                    if response.status == 200, let version {
                        if done { after.append(version) } else { before.append(version) }
                    } else {
                        failed += 1
                    }
                } catch { failed += 1 }
            }
            return (failed, before, after)
        }
        try await eventually("version 1 answers", timeout: .seconds(30)) { try await h.get().contains(#""version": "1""#) }
        let (_, report) = try await h.apply()
        switched.set()
        let result = await load.value
        #expect(report.result == .applied)
        #expect(result.failed == 0, "\(result.failed) requests failed during the switch")
        #expect(result.before.contains("1"), "the old version answered before the switch")
        #expect(result.after.suffix(3) == ["2", "2", "2"], "the new version answers after it: \(result.after)")
        #expect(try await h.get().contains(#""version": "2""#))
        await h.tearDown()
    }

    @Test func aNumberWrittenAnotherWayIsNoChangeOfParams() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        defer { Task { await h.tearDown() } }
        try project.setQuality("1")
        try await project.commit("quality 1")
        #expect(try await h.apply().report.result == .applied)
        for (from, to) in [("quality: 1", "quality: 1.0"), ("quality: 1.0", "quality: 1e0")] {
            let model = try String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8)
            project.write("manifests/model.yaml", model.replacingOccurrences(of: from, with: to))
            try await project.commit("the same quality written as \(to)")
            let plan = try await h.plan()
            #expect(plan.actions.isEmpty, "\(to): \(plan.text)")
        }
    }

    @Test func aKilledServingProcessIsDriftAndIsRestarted() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        try await h.apply()
        let record = try #require(try h.store.deployment("demo-prod"))
        let identity = try #require(LocalServing.of(record)?.serve)
        kill(identity.pid, SIGKILL)
        try await eventually("the killed server is gone") { !identity.isRunning }

        let plan = try await h.plan()
        #expect(plan.actions.count == 1)
        #expect(plan.actions.first?.reason == "serving process for version 1 is not running (drift)")
        try await h.apply()
        #expect(try await h.get().contains(#""version": "1""#))
        #expect(try await h.plan().actions.isEmpty)
        await h.tearDown()
    }

    @Test func anInvalidCommitChangesNothingAndTheLastGoodKeepsServing() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        try await h.apply()
        project.write("manifests/deployment.yaml", project.deployment(version: 2).replacingOccurrences(of: "model: demo", with: "model: dmeo"))
        try await project.commit("Typo", author: "Bob")

        let (plan, report) = try await h.apply()
        #expect(!plan.isValid)
        #expect(plan.actions.isEmpty)
        #expect(
            plan.diagnostics.map(\.description) == [
                "manifests/deployment.yaml:5:10: error: spec.model: no Model named \"dmeo\" (did you mean \"demo\"?)"
            ])
        #expect(report.result == .invalid)
        #expect(try await h.get().contains(#""version": "1""#))
        let source = try #require(try h.store.sources().first)
        #expect(source.lastGoodCommit != source.lastSeenCommit)
        #expect(source.lastError.contains("no Model named"))
        #expect(try h.store.reconciles().first?.author == "Bob <ada@example.com>")
        await h.tearDown()
    }

    @Test func aDeploymentRemovedFromGitIsPruned() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        try await h.apply()
        let record = try #require(try h.store.deployment("demo-prod"))
        project.remove("manifests/deployment.yaml")
        try await project.commit("Retire demo-prod")

        let plan = try await h.plan()
        #expect(plan.actions.map(\.kind) == [.prune])
        try await h.apply()
        #expect(try h.store.deployment("demo-prod") == nil)
        #expect(LocalServing.of(record)?.serve.isRunning == false)
        #expect(LocalServing.of(record)?.forwarder.isRunning == false)
    }

    @Test func aFailingStepRegistersNoVersionAndSkipsTheDeploy() async throws {
        let project = try await TestProject(port: freePort())
        project.write("src/train.py", "import sys\nprint('boom: no data', file=sys.stderr)\nsys.exit(3)\n")
        try await project.commit("Break training")
        let h = try Harness(project)
        let (_, report) = try await h.apply()
        #expect(report.result == .failed)
        #expect(report.failed.count == 1)
        let error = try #require(report.failed.first?.error)
        #expect(error.contains("step train exited with code 3"))
        #expect(error.contains("boom: no data"))
        #expect(report.skipped.map(\.action.kind) == [.deploy])
        #expect(try h.store.versions(of: "demo").isEmpty)
        #expect(try h.store.openIntents().isEmpty)
    }

    @Test func aStepOverItsTimeoutIsStopped() async throws {
        let project = try await TestProject(port: freePort())
        project.write("manifests/pipeline.yaml", TestProject.pipeline(extraStep: "").replacingOccurrences(of: "timeout: 1m", with: "timeout: 1s"))
        let pidFile = makeTemporaryDirectory("pid") + "/train.pid"
        project.write("src/train.py", "import os, time\nopen(\"\(pidFile)\", \"w\").write(str(os.getpid()))\ntime.sleep(60)\n")
        try await project.commit("Slow training")
        let h = try Harness(project)
        let (_, report) = try await h.apply()
        #expect(report.failed.first?.error.contains("step train timed out after 1s") == true)
        let pid = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8)))
        try await eventually("the timed-out step's process is gone", timeout: .seconds(10)) { kill(pid, 0) != 0 }
    }

    @Test func aTrainingInterruptedMidRunIsAdoptedNotStartedTwice() async throws {
        let project = try await TestProject(port: freePort())
        let marker = makeTemporaryDirectory("marker") + "/runs"
        project.write("src/train.py", "import time\ntime.sleep(1.5)\n" + TestProject.train)
        project.write(
            "manifests/pipeline.yaml",
            TestProject.pipeline(extraStep: "").replacingOccurrences(
                of: "      timeout: 1m", with: "      timeout: 1m\n      env: { TRAIN_MARKER: \"\(marker)\" }"))
        try await project.commit("Slow but fine")
        let h = try Harness(project)
        let (desired, plan) = try await h.reconciler.plan(try h.source.fetch())

        // The first controller launches the run and is killed while it waits.
        let first = Task { try await h.reconciler.apply(plan, desired: desired, actor: "first") }
        try await eventually("the run is launched") { try !h.store.openIntents().isEmpty }
        first.cancel()
        _ = try? await first.value
        #expect(try h.store.versions(of: "demo").isEmpty)
        #expect(try h.store.openIntents().count == 1)

        // A restarted controller plans the same train, sees it in flight and adopts it.
        let second = try await h.plan()
        #expect(second.actions.first?.reason.contains("in flight and will be adopted") == true)
        let (_, report) = try await h.apply()
        #expect(report.failed.isEmpty, "\(report.failed.map(\.error))")
        #expect(try h.store.versions(of: "demo").map(\.number) == [1])
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "trained\n", "the step ran exactly once")
        #expect(try h.store.openIntents().isEmpty)
        await h.tearDown()
    }
}

@Suite struct StateStoreTests {
    @Test func storesOpenedConcurrentlyOnANewDirectoryAllMigrate() async throws {
        let directory = makeTemporaryDirectory("gantry-concurrent")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask { _ = try StateStore(directory: directory) }
            }
            try await group.waitForAll()
        }
        #expect(try StateStore(directory: directory).versions(of: "x").isEmpty)
    }
}

@Suite(.serialized) struct ScheduleTests {
    @Test func aScheduledModelRetrainsOncePerPeriodWithUnchangedInputs() async throws {
        let project = try await TestProject(port: freePort())
        project.write(
            "manifests/model.yaml",
            try String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8)
                .replacingOccurrences(of: "  params: { quality: 0.9 }", with: "  params: { quality: 0.9 }\n  triggers: { schedule: 1h }"))
        try await project.commit("Retrain hourly")
        let h = try Harness(project)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let (desired, plan) = try await h.reconciler.plan(try h.source.fetch(), now: start)
        _ = try await h.reconciler.apply(plan, desired: desired, actor: "test")
        #expect(
            try await h.reconciler.plan(try h.source.fetch(), now: start.addingTimeInterval(600)).1.actions.isEmpty,
            "within the hour nothing retrains")
        let later = try await h.reconciler.plan(try h.source.fetch(), now: start.addingTimeInterval(3600)).1
        #expect(later.actions.first?.summary == "train Model/demo -> v2: scheduled retrain (every 1h) since v1")
        await h.tearDown()
    }
}

@Suite(.serialized) struct TriggerTests {
    @Test func aTriggerTurnedOffIgnoresThatInputButNotTheOthers() async throws {
        let project = try await TestProject(port: freePort())
        project.write(
            "manifests/model.yaml",
            try String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8)
                .replacingOccurrences(of: "  params: { quality: 0.9 }", with: "  params: { quality: 0.9 }\n  triggers: { data: false }"))
        try await project.commit("Data does not retrain")
        let h = try Harness(project)
        try await h.apply()
        project.write("data/rows.csv", "x,y\n0,0\n")
        try await project.commit("New data")
        #expect(try await h.plan().actions.isEmpty, "data changes are ignored")
        project.write("src/train.py", TestProject.train + "\n# v2\n")
        try await project.commit("New code")
        let plan = try await h.plan()
        #expect(plan.actions.first?.kind == .train)
        #expect(plan.actions.first?.reason.hasPrefix("training code src changed") == true)
        #expect(plan.actions.first?.reason.contains("dataset") == false)
        await h.tearDown()
    }
}
