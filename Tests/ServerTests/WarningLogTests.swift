import Foundation
import Logging
import Testing

@testable import Controller

/// A log handler that keeps each message with its level.
final class KeptLog: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var kept: [(Logger.Level, String)] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let extra = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        lock.withLock { kept.append((event.level, "\(event.message)" + extra)) }
    }

    var lines: [String] { lock.withLock { kept.map { "\($0.0): \($0.1)" } } }
}

@Suite struct WarningLogTests {
    @Test func aStandingWarningIsLoggedOnceAndItsEndIsSaid() {
        let kept = KeptLog()
        let logger = Logger(label: "test") { _ in kept }
        let deleted = "Model/churn: cannot compute lineage: dataset events: no such object (HTTP 404)"
        let suspended = "Deployment/churn-prod: suspended by olivia"
        var standing = ControllerLoop.announce([deleted], after: [], to: logger)
        for _ in 0..<5 { standing = ControllerLoop.announce([deleted], after: standing, to: logger) }
        standing = ControllerLoop.announce([deleted, suspended], after: standing, to: logger)
        standing = ControllerLoop.announce([suspended], after: standing, to: logger)
        #expect(
            kept.lines == [
                "warning: \(deleted)",
                "warning: \(suspended)",
                "info: warning cleared warning=\(deleted)",
            ])
        #expect(standing == [suspended])
    }
}
