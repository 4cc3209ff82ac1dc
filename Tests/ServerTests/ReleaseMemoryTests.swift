import Foundation
import Testing
@testable import Controller

@Suite("Releasing freed memory between reconciles")
struct ReleaseMemoryTests {
    /// Resident anonymous memory in KiB, from /proc/self/status.
    func anonymousKiB() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("RssAnon:") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    }

    @Test("Pages freed below the top of the heap go back to the system")
    func releasesPagesBelowTheTop() throws {
        // 64 MiB in blocks small enough to come from the heap, touched so
        // they are resident; the last one stays, so that freeing the others
        // leaves them below the top, where free() alone never returns them.
        let blocks = (0..<16_384).map { _ in
            let p = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 16)
            p.initializeMemory(as: UInt8.self, repeating: 1, count: 4096)
            return p
        }
        defer { blocks.last!.deallocate() }
        blocks.dropLast().forEach { $0.deallocate() }
        let before = try anonymousKiB()

        #expect(releaseFreedMemory())
        let after = try anonymousKiB()
        // Other tests in this process allocate at the same time, so only
        // half the freed blocks are required back.
        #expect(before - after > 32 * 1024, "RssAnon went from \(before) KiB to \(after) KiB")
    }
}
