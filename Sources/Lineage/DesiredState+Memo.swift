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
    public final class Memo: @unchecked Sendable {
        struct Key: Equatable {
            var source: String
            var root: String
            var commit: String
            var windows: [String]
            var fingerprints: [String: String]
        }

        public init() {}

        /// The last computation: its key, its states and what each
        /// pipeline gave.
        struct Last {
            var key: Key
            var models: [String: ModelState]
            var generation: UInt64
            /// The generation of the manifest set the states are of.
            var manifests: UInt64
            var pipelines: [String: PipelineInputs]
        }

        private let lock = NSLock()
        private var lastComputed: Last?

        /// Drops everything remembered: the next computation starts cold.
        func forget() {
            lock.withLock { lastComputed = nil }
        }

        /// How many models of the last computation kept their state.
        private(set) var carried = 0

        func last() -> Last? {
            lock.withLock { lastComputed }
        }

        func remember(_ last: Last, carried: Int) {
            lock.withLock {
                lastComputed = last
                self.carried = carried
            }
        }
    }
}
