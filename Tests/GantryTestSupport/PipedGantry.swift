import Foundation
import Synchronization

/// The built gantry running with its output on a pipe, as in CI, read as it
/// comes: a test watches what has arrived while the process still runs.
///
///     let apply = try PipedGantry(["apply", "--repo", repo])
///     try await eventually("the first line") { apply.output.contains("epoch 1") }
public final class PipedGantry: Sendable {
    private let process: Process
    private let pipe = Pipe()
    private let received = Mutex("")

    public init(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: gantryExecutable)
        process.arguments = arguments
        process.standardOutput = pipe
        process.standardError = pipe
        self.process = process
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.received.withLock { $0 += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
    }

    /// What the process wrote so far.
    public var output: String { received.withLock { $0 } }
    public var isRunning: Bool { process.isRunning }
    public var exitCode: Int32 { process.terminationStatus }

    /// Everything it wrote, once it has ended.
    public func finished() throws -> String {
        pipe.fileHandleForReading.readabilityHandler = nil
        let rest = try pipe.fileHandleForReading.readToEnd() ?? Data()
        return received.withLock { $0 + String(decoding: rest, as: UTF8.self) }
    }

    public func terminate() { if process.isRunning { process.terminate() } }
}
