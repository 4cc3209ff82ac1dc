import Foundation
import Manifests

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

        /// A model's last lineage and the spec it came from, kept across
        /// commits.
        struct Known {
            var spec: ModelSpec
            var lineage: Lineage
            var digest: String
        }

        private let lock = NSLock()
        private var last: (key: Key, models: [String: ModelState])?
        private var known: [String: Known] = [:]

        func lineages() -> [String: Known] {
            lock.lock()
            defer { lock.unlock() }
            return known
        }

        /// Drops everything remembered: the next computation starts cold.
        func forget() {
            lock.lock()
            last = nil
            known = [:]
            lock.unlock()
        }

        /// How many models of the last computation kept their lineage.
        private(set) var carried = 0

        func remember(lineages: [String: Known], carried: Int = 0) {
            lock.lock()
            known = lineages
            self.carried = carried
            lock.unlock()
        }

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
