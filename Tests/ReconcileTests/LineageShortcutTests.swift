import Foundation
import GantryTestSupport
import Source
import State
import Testing

@testable import Lineage
@testable import Manifests
@testable import Planner

/// Shortcuts the planner takes on every model of every reconcile must give
/// the answers of the code they stand in for.
@Suite struct LineageShortcutTests {
    static let base = Lineage(
        model: "churn", commit: "c1", pipeline: "train", pipelineDigest: "sha256:aa", codePath: "src",
        codeTree: "t1", datasets: ["d": "git:1"], params: ["epochs": .int(3), "lr": .double(0.1)],
        runtime: ["python": "3.11"])

    static var variants: [Lineage] {
        var out = [base]
        func with(_ change: (inout Lineage) -> Void) {
            var l = base
            change(&l)
            out.append(l)
        }
        with { $0.commit = "c2" }
        with { $0.pipeline = "other" }
        with { $0.pipelineDigest = "sha256:bb" }
        with { $0.codeTree = "t2" }
        with { $0.codePath = "elsewhere" }
        with { $0.datasets["d"] = "git:2" }
        with { $0.datasets["e"] = "git:3" }
        with { $0.datasets = [:] }
        with { $0.params["epochs"] = .int(4) }
        with { $0.params["lr"] = .int(0) }
        with { $0.params["epochs"] = .double(3) }
        with { $0.params["new"] = .string("x") }
        with { $0.runtime = [:] }
        return out
    }

    @Test func matchesIsExactlyNoChanges() {
        let triggers: [Triggers?] = [
            nil, Triggers(data: false, code: nil, params: nil, schedule: nil),
            Triggers(data: nil, code: false, params: false, schedule: nil),
            Triggers(data: true, code: true, params: true, schedule: nil),
        ]
        for a in Self.variants {
            for b in Self.variants {
                for t in triggers {
                    #expect(a.matches(b, triggers: t) == a.changes(since: b, triggers: t).isEmpty, "\(a) vs \(b) with \(String(describing: t))")
                }
            }
        }
    }

    @Test func hexDigitsAreWhatFormattingWrites() {
        let bytes: [UInt8] = [0, 1, 9, 10, 15, 16, 127, 128, 171, 255]
        #expect(bytes.hexString == bytes.map { String(format: "%02x", $0) }.joined())
        #expect(Digest.sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}

/// Lineages carried over from the last commit must be the ones a fresh
/// computation gives, for the models that changed and those that did not.
@Suite struct LineageCarryOverTests {
    let memo = DesiredState.Memo()

    func compute(_ revision: Revision) async -> DesiredState {
        await DesiredState.compute(revision, fingerprinter: Fingerprinter(store: nil), now: Date(timeIntervalSince1970: 0), memo: memo)
    }

    func fresh(_ revision: Revision) async -> DesiredState {
        memo.forget()
        return await compute(revision)
    }

    @Test func carriedOverLineagesEqualFreshOnesAndCarryTheNewCommit() async throws {
        let project = try await TestProject(port: freePort())
        project.write(
            "manifests/more.yaml",
            (1...3).map { i in
                """
                apiVersion: gantry.dev/v1alpha1
                kind: Model
                metadata: { name: extra-\(i) }
                spec: { pipeline: demo-training, datasets: [rows], target: local, params: { quality: 0.\(i) } }
                """
            }.joined(separator: "\n---\n"))
        try await project.commit("Three more models")
        let source = try GitSource(location: project.directory, ref: "main", path: "", cacheDirectory: makeTemporaryDirectory("src"))
        let first = try source.fetch()
        _ = await compute(first)

        // One model's params change, the data changes for all, then only a README.
        let edits: [(String, () -> Void)] = [
            (
                "Raise extra-2's quality",
                {
                    project.write(
                        "manifests/more.yaml",
                        (try! String(contentsOfFile: project.directory + "/manifests/more.yaml", encoding: .utf8)).replacingOccurrences(
                            of: "quality: 0.2", with: "quality: 0.7"))
                }
            ),
            ("New rows", { project.write("data/rows.csv", "x,y\n1,2\n3,4\n5,6\n") }),
            ("Docs", { project.write("README.md", "models\n") }),
            ("Edit the training code", { project.write("src/train.py", TestProject.train + "\n# tuned\n") }),
            (
                "Change the pipeline",
                { project.write("manifests/pipeline.yaml", TestProject.pipeline(extraStep: "").replacingOccurrences(of: "timeout: 1m", with: "timeout: 2m")) }
            ),
            (
                "Drop extra-3",
                {
                    project.write(
                        "manifests/more.yaml",
                        (1...2).map { i in
                            "apiVersion: gantry.dev/v1alpha1\nkind: Model\nmetadata: { name: extra-\(i) }\n"
                                + "spec: { pipeline: demo-training, datasets: [rows], target: local, params: { quality: 0.\(i == 2 ? 7 : i) } }\n"
                        }.joined(separator: "---\n"))
                }
            ),
            ("Remove the pipeline", { try? FileManager.default.removeItem(atPath: project.directory + "/manifests/pipeline.yaml") }),
        ]
        var before = await compute(first)
        for (message, edit) in edits {
            edit()
            try await project.commit(message)
            let revision = try source.fetch()
            let carried = await compute(revision)
            let carriedOver = memo.carried
            #expect(revision.manifests.names.models == carried.models.keys.sorted(), "\(message)")
            #expect(revision.manifests.names.deployments == revision.manifests.deployments.keys.sorted(), "\(message)")
            let recomputed = await fresh(revision)
            #expect(memo.carried == 0, "computed from nothing")
            #expect(carried.models.count == (["Drop extra-3", "Remove the pipeline"].contains(message) ? 3 : 4))
            for (name, state) in recomputed.models {
                #expect(carried.lineage(of: name) == recomputed.lineage(of: name), "\(message): \(name)")
                #expect(carried.models[name]?.digest == state.lineage?.digest, "\(message): \(name)")
                #expect(carried.models[name]?.problem == state.problem, "\(message): \(name)")
                if state.lineage != nil {
                    #expect(carried.lineage(of: name)?.commit == revision.commit.id.hex)
                    #expect(state.lineage?.commit == revision.commit.id.hex, "worked out afresh at this commit")
                }
            }
            let changed = Set(carried.models.keys.filter { carried.models[$0]?.digest != before.models[$0]?.digest })
            switch message {
            case "Raise extra-2's quality": #expect(changed == ["extra-2"] && carriedOver == 1, "the edited file's three models are worked out again")
            case "New rows": #expect(changed.count == 4 && carriedOver == 0)
            case "Edit the training code", "Change the pipeline": #expect(changed.count == 4 && carriedOver == 0)
            case "Drop extra-3": #expect(changed.isEmpty && carriedOver == 1, "the rewritten file's models are worked out again")
            case "Remove the pipeline":
                #expect(carriedOver == 0 && carried.models.values.allSatisfy { $0.lineage == nil && $0.problem == "no pipeline demo-training" })
            default: #expect(changed.isEmpty && carriedOver == 4)
            }
            before = carried
        }

        // A revision fetched but never worked out: the next computation is
        // not against the set it was updated from, and must still be right.
        project.write("manifests/pipeline.yaml", TestProject.pipeline(extraStep: ""))
        try await project.commit("The pipeline again")
        _ = await compute(try source.fetch())
        for quality in ["0.3", "0.4"] {
            project.write(
                "manifests/model.yaml",
                (try String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8))
                    .replacingOccurrences(of: #"quality: [0-9.]+"#, with: "quality: \(quality)", options: .regularExpression))
            try await project.commit("demo at quality \(quality)")
            _ = try source.fetch()
        }
        let revision = try source.fetch()
        let skipped = await compute(revision)
        let recomputed = await fresh(revision)
        #expect(skipped.models.mapValues(\.digest) == recomputed.models.mapValues(\.digest))
        #expect(skipped.lineage(of: "demo")?.params["quality"] == .double(0.4))
    }
}

extension LineageCarryOverTests {
    /// Data in Git is fingerprinted by the commit: the same commit needs no
    /// lookup. Data outside Git can change under the same commit, and must be
    /// fingerprinted on every computation.
    @Test func theSameCommitReusesFingerprintsOfDataInGitButNotOfDataOutsideIt() async throws {
        let project = try await TestProject(port: freePort())
        let source = try GitSource(location: project.directory, ref: "main", path: "", cacheDirectory: makeTemporaryDirectory("src"))
        let revision = try source.fetch()
        let first = await compute(revision)
        #expect(await compute(revision).generation == first.generation, "in Git: the last answer")

        let outside = makeTemporaryDirectory("rows-outside") + "/rows.csv"
        try "x,y\n1,2\n".write(toFile: outside, atomically: true, encoding: .utf8)
        project.writeRowsDataset(path: outside)
        try await project.commit("Data outside Git")
        let moved = try source.fetch()
        let before = await compute(moved)
        try "x,y\n1,2\n5,6\n".write(toFile: outside, atomically: true, encoding: .utf8)
        let after = await compute(moved)
        #expect(after.generation != before.generation)
        #expect(after.lineage(of: "demo")?.datasets["rows"] != before.lineage(of: "demo")?.datasets["rows"], "the new rows are seen at the same commit")
        #expect(after.lineage(of: "demo")?.datasets["rows"] == (await fresh(moved)).lineage(of: "demo")?.datasets["rows"])
    }
}

/// The planner gives back its last plan for the same desired state and an
/// equal observed state; any change to either is planned afresh.
@Suite struct PlanMemoTests {
    @Test func aRememberedPlanIsTheOneWorkedOutAndAChangedInputIsPlannedAgain() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        let revision = try h.source.fetch()
        let memo = DesiredState.Memo()
        let now = Date()  // tests run side by side: a memo of its own
        let desired = await DesiredState.compute(revision, fingerprinter: Fingerprinter(store: h.store), now: now, memo: memo)
        let observed = try await h.reconciler.observe(desired)
        let planner = IncrementalPlanner()
        let first = planner.plan(desired: desired, observed: observed)
        #expect(first.actions.map(\.kind) == [.train, .deploy])

        // The same commit again: the memo's desired state, the same plan.
        let again = await DesiredState.compute(try h.source.fetch(), fingerprinter: Fingerprinter(store: h.store), now: now, memo: memo)
        #expect(again.generation == desired.generation)
        let remembered = planner.plan(desired: again, observed: try await h.reconciler.observe(again))
        #expect(remembered.actions == first.actions && remembered.inSync == first.inSync)

        // A version appears: no longer the same observed state.
        var trained = observed
        let lineage = try #require(first.actions.first?.lineage)
        trained.versions["demo"] = [
            VersionRecord(
                model: "demo", number: 1, digest: lineage.digest, lineage: lineage.json, metrics: "{}",
                artifactPath: "/nonexistent", artifactDigest: "sha256:00", commit: lineage.commit,
                gatesPassed: true, gateReport: "", createdAt: Date())
        ]
        let afterTraining = planner.plan(desired: desired, observed: trained)
        #expect(afterTraining.actions.map(\.kind) == [.deploy])
        #expect(afterTraining.actions == Planner(desired: desired, observed: trained).plan().actions, "the same as from scratch")

        // A desired state worked out apart (a new generation) is planned afresh.
        let apart = DesiredState(revision: desired.revision, models: desired.models)
        #expect(apart.generation != desired.generation)
        #expect(planner.plan(desired: apart, observed: observed).actions == first.actions)
        #expect(planner.plan(desired: desired, observed: observed).actions == first.actions)
        await h.tearDown()
    }
}
