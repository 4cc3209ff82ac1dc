/// A test's own failure: a wait that ran out, a command that failed, a
/// fixture that could not be made, with what went wrong in words.
///
///     throw TestFailure("browser-check printed no result: \(output)")
public struct TestFailure: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
