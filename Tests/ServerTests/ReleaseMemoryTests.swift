import Foundation
import Testing

@testable import Controller

@Suite("Releasing freed memory between reconciles")
struct ReleaseMemoryTests {
    /// Whether each page is resident, asked of the kernel page by page
    /// (mincore): unlike the process's RSS, this counts only these pages,
    /// whatever other tests in the process allocate meanwhile.
    func resident(_ pages: [UInt]) throws -> Int {
        var count = 0
        var flag: UInt8 = 0
        for page in pages {
            let status = mincore(UnsafeMutableRawPointer(bitPattern: page), Int(sysconf(Int32(_SC_PAGESIZE))), &flag)
            try #require(status == 0, "mincore failed: errno \(errno)")
            if flag & 1 == 1 { count += 1 }
        }
        return count
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
        // The pages that lie wholly within two neighbouring blocks of ours:
        // once both are freed, nothing else lives there. (Other tests may
        // have allocated between some of them.)
        let size = UInt(sysconf(Int32(_SC_PAGESIZE)))
        let addresses = blocks.dropLast().map { UInt(bitPattern: $0) }.sorted()
        let pages = zip(addresses, addresses.dropFirst()).compactMap { a, b -> UInt? in
            let page = (a + size - 1) / size * size
            return b - a <= 4096 + 64 && page + size <= b + 4096 ? page : nil
        }
        try #require(pages.count > 8_000, "most blocks lie side by side: \(pages.count)")
        blocks.dropLast().forEach { $0.deallocate() }
        let before = try resident(pages)
        #expect(before > pages.count / 2, "freed but still resident: \(before) of \(pages.count) pages")

        #expect(releaseFreedMemory())
        let after = try resident(pages)
        // Another test on this thread's heap may take some of the space
        // back at once; most of it must have gone to the system.
        #expect(after < pages.count / 4, "still resident after the release: \(after) of \(pages.count) pages")
    }
}
