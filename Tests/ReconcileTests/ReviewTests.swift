import Crypto
import Foundation
import GantryTestSupport
import Testing

@testable import Planner
@testable import Reconciler
@testable import Review
@testable import Source
@testable import State

/// Plans between the project's `main` and a `feature` branch.
private func review(_ h: Harness, base: String = "main", head: String = "feature") async throws -> Review {
    try await Review.compute(base: try h.source.revision(at: base), head: try h.source.revision(at: head), reconciler: h.reconciler)
}

private func branch(_ project: TestProject, _ name: String = "feature") async throws {
    try await git(["checkout", "-q", "-b", name], in: project.directory)
}

@Suite(.serialized, .timeLimit(.minutes(3)))
struct ReviewTests {
    @Test func aParamsChangeAndAPinChangeShowInputsActionsAndMetricsSideBySide() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        try await h.apply()
        try await branch(project)
        try project.setQuality("0.95")
        project.write("manifests/deployment.yaml", project.deployment(version: 2))
        try await project.commit("Better quality, ship v2", author: "Bob")

        let r = try await review(h)
        #expect(r.result == .changes)
        #expect(
            r.actions.map(\.summary) == [
                "train Model/demo -> v2: param quality changed (0.9 -> 0.95) since v1",
                "deploy Deployment/demo-prod demo@v1 -> v2: pinned 2, serving 1",
            ])
        #expect(r.inputChanges.map(\.model) == ["demo"])
        #expect(r.inputChanges.first?.changes == ["param quality changed (0.9 -> 0.95)"])
        let pin = try #require(r.pinChanges.first)
        #expect(pin.from == 1 && pin.to == 2)
        #expect(pin.fromMetrics == ["accuracy": 0.9])
        #expect(pin.toMetrics == nil, "v2 is not trained yet")
        #expect(r.objectChanges.map(\.object) == ["Model/demo", "Deployment/demo-prod"])
        #expect(r.objectChanges[0].fields == [.init(field: "spec.params.quality", before: "0.9", after: "0.95")])
        #expect(r.markdown.hasPrefix("<!-- gantry:plan head=\(r.head.commit) result=changes -->\n"))
        #expect(r.markdown.contains("| `spec.params.quality` | `0.9` | `0.95` |"))
        #expect(r.markdown.contains("| `demo-prod` | `demo` | v1 | v2 (not trained yet) | accuracy 0.9 → – |"))
        await h.tearDown()
    }

    @Test func aCodeChangeListsTheCommitsThatChangedTheTrainingCode() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        try await branch(project)
        project.write("src/train.py", TestProject.train + "\n# faster\n")
        try await project.commit("Speed up training", author: "Carol")
        project.write("NOTES.md", "unrelated\n")
        try await project.commit("Notes", author: "Dan")
        let r = try await review(h)
        let input = try #require(r.inputChanges.first)
        #expect(input.changes.first?.hasPrefix("training code src changed (tree ") == true)
        #expect(input.codeCommits.map(\.subject) == ["Speed up training"])
        #expect(input.codeCommits.first?.author == "Carol")
    }

    @Test func aNewDeploymentARemovedModelAndADatasetChangeArePlanned() async throws {
        let project = try await TestProject(port: freePort())
        project.write(
            "manifests/extra.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Model
            metadata: { name: old }
            spec: { pipeline: demo-training, datasets: [rows], target: local }
            """)
        try await project.commit("Add old")
        let h = try Harness(project)
        try await h.apply()
        try await branch(project)
        project.remove("manifests/extra.yaml")
        project.write("data/rows.csv", "x,y\n9,9\n")
        project.write(
            "manifests/canary.yaml",
            project.deployment(version: 1)
                .replacingOccurrences(of: "demo-prod", with: "demo-canary")
                .replacingOccurrences(of: "127.0.0.1:\(project.port)", with: "127.0.0.1:\(freePort())"))
        try await project.commit("Retire old, new data, canary")

        let r = try await review(h)
        #expect(r.objectChanges.map { "\($0.change.rawValue) \($0.object)" } == ["removed Model/old", "added Deployment/demo-canary"])
        #expect(r.actions.map(\.kind) == [.train, .promote, .deploy])
        #expect(r.actions[0].reason.hasPrefix("dataset rows changed (git:"))
        #expect(r.actions[2].object == "Deployment/demo-canary")
        #expect(r.pinChanges.map(\.deployment) == ["demo-canary"])
        #expect(r.pinChanges.first?.from == nil)
        await h.tearDown()
    }

    @Test func aDeploymentRemovedOnTheHeadIsAPrune() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        try await h.apply()
        try await branch(project)
        project.remove("manifests/deployment.yaml")
        try await project.commit("Retire demo-prod")
        let r = try await review(h)
        #expect(r.actions.map(\.kind) == [.prune])
        #expect(r.objectChanges.map(\.change) == [.removed])
        await h.tearDown()
    }

    @Test func anInvalidHeadStillYieldsAReportWithItsErrors() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        try await branch(project)
        project.write("manifests/model.yaml", "apiVersion: gantry.dev/v1alpha1\nkind: Model\nmetadata: { name: demo }\nspec: { pipeline: [unclosed\n")
        try await project.commit("Broken")
        let r = try await review(h)
        #expect(r.result == .invalid)
        #expect(r.actions.isEmpty)
        #expect(r.diagnostics.count == 1)
        #expect(r.diagnostics.first?.file == "manifests/model.yaml")
        #expect(r.markdown.contains("#### Validation errors"))
        #expect(r.markdown.contains("| `manifests/model.yaml` | 5:1 |"))
    }

    @Test func planningAHostileHeadRunsNothingAndWritesNothing() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        try await h.apply()
        let marker = makeTemporaryDirectory("hostile") + "/pwned"
        try await branch(project)
        let touch = "[python3, -c, \"open('\(marker)', 'w').write('x')\"]"
        project.write(
            "manifests/pipeline.yaml",
            TestProject.pipeline(extraStep: "")
                .replacingOccurrences(
                    of: "command: [python3, train.py, \"${datasets.rows}\", \"${outputs}\", \"${params.quality}\"]", with: "command: \(touch)"))
        project.write(
            "manifests/deployment.yaml",
            project.deployment(version: 2)
                .replacingOccurrences(
                    of: "command: [python3, serve.py, --model, \"${artifact}\", --port, \"${port}\", --version, \"${version}\"]", with: "command: \(touch)"))
        project.write("src/train.py", "open('\(marker)', 'w').write('x')\n")
        try await project.commit("Innocent change")

        // The database and its write-ahead log (readers touch only the
        // shared-memory index beside them).
        func database() throws -> [SHA256.Digest] {
            try ["state.db", "state.db-wal"].map { h.store.directory + "/" + $0 }.filter { FileManager.default.fileExists(atPath: $0) }
                .map { SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: $0))) }
        }
        let before = try database()
        let runs = try FileManager.default.contentsOfDirectory(atPath: h.workspace.root)
        let r = try await review(h)
        #expect(r.actions.map(\.kind) == [.train, .deploy], "the plan says what merging would do")
        #expect(!FileManager.default.fileExists(atPath: marker), "nothing from the head ran")
        #expect(try database() == before, "the state store is untouched")
        #expect(try FileManager.default.contentsOfDirectory(atPath: h.workspace.root) == runs)
        #expect(try h.store.versions(of: "demo").count == 1)
        await h.tearDown()
        #expect(!FileManager.default.fileExists(atPath: marker))
    }
}

/// `plan --base/--head` plans what merging would leave on the base, as a
/// forge's merge ref has it, not the head's own tree.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct MergePlanTests {
    @Test func aBranchBehindMainIsPlannedAsItsMergeNotAsItsOwnTree() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        defer { Task { await h.tearDown() } }
        try await branch(project)
        try project.setQuality("0.95")
        try await project.commit("Better quality", author: "Bob")
        let feature = try await git(["rev-parse", "HEAD"], in: project.directory).trimmingCharacters(in: .whitespacesAndNewlines)
        // Meanwhile main serves a second Deployment the branch never saw.
        try await git(["checkout", "-q", "main"], in: project.directory)
        project.write(
            "manifests/second.yaml",
            project.deployment(version: 1).replacingOccurrences(of: "name: demo-prod", with: "name: demo-second")
                .replacingOccurrences(of: ":\(project.port)", with: ":\(freePort())"))
        try await project.commit("Serve a second copy")
        #expect(try await h.apply().report.result == .applied)

        let ownTree = try await review(h)
        #expect(ownTree.actions.contains { $0.kind == .prune && $0.object == "Deployment/demo-second" }, "the head's own tree lacks it")

        // Planned in memory: the repository gains no object from the merge.
        let objects = try await git(["count-objects", "-v"], in: project.directory)
        guard case .revision(let merged) = try h.source.merged(head: "feature", into: "main") else {
            Issue.record("the branch merges cleanly")
            return
        }
        let r = try await Review.compute(
            base: try h.source.revision(at: "main"), head: merged, reconciler: h.reconciler, shown: try h.source.revision(at: "feature"))
        #expect(r.objectChanges.map(\.object) == ["Model/demo"], "only what the branch changed: \(r.objectChanges.map(\.object))")
        #expect(r.actions.first?.summary == "train Model/demo -> v2: param quality changed (0.9 -> 0.95) since v1", "\(r.actions.map(\.summary))")
        #expect(!r.actions.contains { $0.object.hasPrefix("Deployment/") }, "no prune, no pin moved back: \(r.actions.map(\.summary))")
        #expect(r.head.commit == feature, "the review names the head, not the planned merge")
        #expect(r.inputChanges.first?.codeCommits.isEmpty == true)

        #expect(try await git(["count-objects", "-v"], in: project.directory) == objects, "no object written, nor a ref")
        #expect(try await git(["branch", "--list"], in: project.directory).split(separator: "\n").count == 2)
    }

    @Test func aBranchThatConflictsWithMainIsReportedWithItsPaths() async throws {
        let project = try await TestProject(port: freePort())
        try await branch(project)
        project.write("manifests/deployment.yaml", project.deployment(version: 3))
        try await project.commit("Pin v3")
        try await git(["checkout", "-q", "main"], in: project.directory)
        project.write("manifests/deployment.yaml", project.deployment(version: 2))
        try await project.commit("Pin v2")
        let state = makeTemporaryDirectory("gantry-merge-state")
        let plan = try await gantry(["plan", "--repo", project.directory, "--state-dir", state, "--base", "main", "--head", "feature"])
        #expect(plan.code == 1, "\(plan.output)")
        #expect(
            plan.output.contains("error: feature does not merge cleanly into main: conflicts in manifests/deployment.yaml; resolve them (or plan --head-only)"),
            "\(plan.output)")
        let json = try await gantry(["plan", "--repo", project.directory, "--state-dir", state, "--base", "main", "--head", "feature", "-o", "json"])
        let body = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        #expect(body?["result"] as? String == "conflict" && body?["conflicts"] as? [String] == ["manifests/deployment.yaml"], "\(json.output)")
        let own = try await gantry(["plan", "--repo", project.directory, "--state-dir", state, "--base", "main", "--head", "feature", "--head-only"])
        #expect(own.code == 2 && own.output.contains("v3"), "the head's own tree still plans: \(own.output)")
    }
}
