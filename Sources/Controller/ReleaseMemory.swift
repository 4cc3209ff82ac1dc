#if canImport(Glibc)
import CMalloc
#endif

/// Hands the heap pages that a reconcile freed back to the system.
///
/// A reconcile of 10,000 models allocates a few MiB that it frees again
/// (decoded manifests, query rows, plan drafts), spread over the arenas of
/// whichever threads ran it. glibc returns freed memory only from the top
/// of an arena, so the rest stays resident, and a long-running controller's
/// RSS creeps up with every reconcile whose allocations land differently,
/// although the heap in use does not grow (bench/RESULTS.md, scenario 5).
/// `malloc_trim` walks every arena and releases the free pages within it.
/// Returns whether any memory was released.
@discardableResult
public func releaseFreedMemory() -> Bool {
    #if canImport(Glibc)
    malloc_trim(0) == 1
    #else
    false
    #endif
}
