import Foundation
import GantryTestSupport
import Testing

@testable import FileTree
@testable import Lineage

/// `DirectoryPrefetch` is one plan per process; these tests run one after
/// another and each starts its own, on directories of its own.
@Suite(.serialized) struct DirectoryPrefetchTests {
    private func directory(files: Int) throws -> String {
        let root = makeTemporaryDirectory("gantry-prefetch")
        for i in 0..<files { try "\(i)\n".write(toFile: root + "/f\(i).csv", atomically: false, encoding: .utf8) }
        return root
    }

    private func paths(_ listing: DirectoryListing) -> Set<String> { Set((0..<listing.count).map(listing.relative)) }

    @Test func aPredictedDirectoryIsHandedOverOnceAndOthersAreListedWhenAsked() throws {
        let predicted = try directory(files: 1200)
        let other = try directory(files: 3)
        DirectoryPrefetch.start { [predicted, predicted + "/missing"] }
        #expect(DirectoryPrefetch.predicted == [predicted, predicted + "/missing"])
        let handed = DirectoryPrefetch.listing(of: predicted)
        #expect(handed.signature == DirectoryListing.scan(predicted).signature)
        #expect(paths(handed).count == 1200)
        // Taken once: asked again, the directory is listed afresh, so a file
        // added since is seen.
        try "new\n".write(toFile: predicted + "/g.csv", atomically: false, encoding: .utf8)
        #expect(paths(DirectoryPrefetch.listing(of: predicted)).contains("g.csv"))
        #expect(paths(DirectoryPrefetch.listing(of: other)) == ["f0.csv", "f1.csv", "f2.csv"])
        // Other suites list directories of their own meanwhile.
        #expect(DirectoryPrefetch.listed.filter { $0 == predicted || $0 == other } == [predicted, predicted, other])
    }

    /// A prediction that reads nothing (no file of directories yet) lists
    /// nothing ahead, and every listing is taken when asked.
    @Test func anEmptyPredictionChangesNothing() throws {
        let root = try directory(files: 2)
        DirectoryPrefetch.start { [] }
        #expect(DirectoryPrefetch.predicted.isEmpty)
        #expect(paths(DirectoryPrefetch.listing(of: root)) == ["f0.csv", "f1.csv"])
    }
}
