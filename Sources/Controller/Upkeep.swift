import Source

#if canImport(Glibc)
    import CMalloc
#endif

/// Upkeep between reconciles, off the path from a push to its action:
/// compacting the fetch cache's packs when there are too many, then handing
/// the heap freed since back to the system. Returns why compacting failed,
/// if it did; fetching goes on either way.
public func upkeep(after source: GitSource) -> String? {
    source.compactCache()
    let problem = source.takeCompactionProblem()
    releaseFreedMemory()
    return problem
}

/// Hands the heap pages that a reconcile freed back to the system.
///
/// A reconcile allocates and frees again (decoded manifests, query rows,
/// plan drafts) in the arenas of whichever threads ran it, and glibc's
/// free() returns memory only from the top of an arena, so a long-running
/// controller's RSS creeps up while its heap in use stays flat. Under
/// `heaptrack gantry-bench memory --reconciles 1000` that heap stays
/// between 32.3 and 32.7 MiB; `malloc_trim` walks every arena and releases
/// the free pages inside it. Returns whether any memory was released.
@discardableResult
func releaseFreedMemory() -> Bool {
    #if canImport(Glibc)
        malloc_trim(0) == 1
    #else
        false
    #endif
}
