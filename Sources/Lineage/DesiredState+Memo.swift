import Foundation

extension DesiredState {
    /// The last models' states worked out, with what they were worked out
    /// from. A revision is an immutable snapshot named by its commit, and
    /// the only other input is the data's fingerprints (with a failure's
    /// message, which becomes a model's problem), so equal keys mean equal
    /// states: a controller loop with nothing new reuses them instead of
    /// computing 10,000 lineages again.
    final class Memo: @unchecked Sendable {
        struct Key: Equatable {
            var source: String
            var root: String
            var commit: String
            var windows: [String]
            var fingerprints: [String: String]
        }

        static let shared = Memo()

        private let lock = NSLock()
        private var last: (key: Key, models: [String: ModelState])?

        func models(for key: Key) -> [String: ModelState]? {
            lock.lock()
            defer { lock.unlock() }
            guard let last, last.key == key else { return nil }
            return last.models
        }

        func remember(_ models: [String: ModelState], for key: Key) {
            lock.lock()
            last = (key, models)
            lock.unlock()
        }
    }
}
