import Foundation

/// The gantry executable built next to the test bundle. The job runner and
/// the address forwarder are re-runs of it, and the CLI tests run it.
public let gantryExecutable: String = {
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return (me as NSString).deletingLastPathComponent + "/gantry"
}()

/// The root of the gantry package (where Package.swift, examples/ and
/// scripts/ are).
public let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// Runs the built gantry with `arguments`, as a user would from a shell.
///
///     let plan = try await gantry(["plan", "--repo", repo, "--state-dir", state])
///     #expect(plan.code == 2, "changes pending: \(plan.output)")
public func gantry(
    _ arguments: [String], in directory: String? = nil,
    environment: [String: String] = ProcessInfo.processInfo.environment,
    timeout: Duration = .seconds(120)
) async throws -> CommandResult {
    try await runCommand([gantryExecutable] + arguments, in: directory, environment: environment, timeout: timeout)
}
