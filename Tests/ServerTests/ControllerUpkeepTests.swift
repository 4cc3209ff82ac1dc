import Foundation
import GantryTestSupport
import Logging
import Reconciler
import State
import Targets
import Testing

@testable import Controller
@testable import Source

@Suite("Upkeep between reconciles")
struct ControllerUpkeepTests {
    @Test("The controller keeps its fetch cache to a few packs, compacting after each reconcile")
    func compactsTheFetchCacheAfterReconciling() async throws {
        let project = try await ServerProject(deployment: false)
        let workspace = Workspace(root: makeTemporaryDirectory("gantry-state"), executable: gantryExecutable)
        let source = try GitSource(location: project.url, ref: "main", path: "", cacheDirectory: workspace.sources)
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let loop = ControllerLoop(
            source: source, reconciler: Reconciler(store: try StateStore(directory: workspace.root), workspace: workspace),
            status: ControllerStatus(source: source.name),
            configuration: .init(interval: .seconds(3600), iterations: 1, jitter: false), logger: logger)
        await loop.loop()
        var mostPacks = source.repository.packFiles.count
        // Each push is one more pack in the cache; none changes the model.
        for n in 1...GitSource.packLimit + 2 {
            project.write("NOTES.md", "Reviewed \(n) times.\n")
            try await project.push("Review \(n)")
            await loop.loop()
            mostPacks = max(mostPacks, source.repository.packFiles.count)
            #expect(loop.status.snapshot.lastError == nil)
        }
        #expect(mostPacks == GitSource.packLimit)
        #expect(source.repository.packFiles.count < GitSource.packLimit)
        let head = try await git(["rev-parse", "HEAD"], in: project.directory).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(loop.status.snapshot.assessment?.plan.revision.commit == head)
        #expect(source.takeCompactionProblem() == nil)
    }
}
