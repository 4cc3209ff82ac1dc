/// Waits until `condition` holds, asking again every 50 ms, so a test waits
/// for the event it needs instead of sleeping a guessed time. Throws a
/// `TestFailure` naming `what` once `timeout` has passed. An error from the
/// condition counts as "not yet" (a server that is still starting refuses
/// connections) and is quoted in the failure.
///
///     try await eventually("v2 serves") { try store.deployment("demo-prod")?.version == 2 }
public func eventually(
    _ what: String, timeout: Duration = .seconds(60),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    var lastError: (any Error)?
    while true {
        do {
            if try await condition() { return }
            lastError = nil
        } catch {
            lastError = error
        }
        guard ContinuousClock.now < deadline else { break }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestFailure(
        "timed out after \(timeout) waiting until \(what)"
            + (lastError.map { "; the last check threw: \($0)" } ?? ""))
}
