import Foundation
import Manifests

extension DesiredState {
    /// The last models' states worked out, with what they were worked out
    /// from. A revision is an immutable snapshot named by its commit, and
    /// the only other input is the data's fingerprints (with a failure's
    /// message, which becomes a model's problem), so equal keys mean equal
    /// states: a controller loop with nothing new reuses them instead of
    /// computing 10,000 lineages again. A new commit starts from the last
    /// states and works out only the models whose inputs changed.
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

        /// Drops everything remembered: the next computation starts cold.
        func forget() {
            lock.lock()
            last = nil
            lock.unlock()
        }

        /// How many models of the last computation kept their state.
        private(set) var carried = 0

        func models(for key: Key) -> [String: ModelState]? {
            lock.lock()
            defer { lock.unlock() }
            guard let last, last.key == key else { return nil }
            return last.models
        }

        /// The states of the last computation, whatever it was keyed by.
        func lastModels() -> [String: ModelState] {
            lock.lock()
            defer { lock.unlock() }
            return last?.models ?? [:]
        }

        func remember(_ models: [String: ModelState], for key: Key, carried: Int) {
            lock.lock()
            last = (key, models)
            self.carried = carried
            lock.unlock()
        }
    }
}
