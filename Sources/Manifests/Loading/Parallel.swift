import Dispatch
import Foundation

/// Decoding files is independent work: a cold load of a large repository
/// (a controller's first fetch, `gantry validate`) spreads it over the
/// machine's cores. Results keep the input's order, so nothing downstream
/// can tell how the work was split.
///
///     let decoded = Parallel.map(files) { ManifestDecoder.decode(path: $0.path, bytes: $0.bytes) }
public enum Parallel {
    /// Below this many items one thread is faster than waking others.
    static let minimumItems = 8

    public static func map<T, R>(_ items: [T], _ transform: (T) -> R) -> [R] {
        let workers = min(ProcessInfo.processInfo.activeProcessorCount, items.count / minimumItems)
        guard workers > 1 else { return items.map(transform) }
        var out = [R?](repeating: nil, count: items.count)
        withoutActuallyEscaping(transform) { transform in
            out.withUnsafeMutableBufferPointer { buffer in
                // Each index is claimed once under the lock and written by the
                // worker that claimed it, so no two threads touch one slot.
                let shared = Shared(items: items, transform: transform, out: buffer)
                DispatchQueue.concurrentPerform(iterations: workers) { _ in
                    while let i = shared.claim() { shared.out[i] = shared.transform(shared.items[i]) }
                }
            }
        }
        return out.map { $0! }
    }

    private final class Shared<T, R>: @unchecked Sendable {
        let items: [T]
        let transform: (T) -> R
        let out: UnsafeMutableBufferPointer<R?>
        private let lock = NSLock()
        private var next = 0

        init(items: [T], transform: @escaping (T) -> R, out: UnsafeMutableBufferPointer<R?>) {
            self.items = items
            self.transform = transform
            self.out = out
        }

        func claim() -> Int? {
            lock.lock()
            defer { lock.unlock() }
            guard next < items.count else { return nil }
            next += 1
            return next - 1
        }
    }
}
