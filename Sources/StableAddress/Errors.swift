import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Failures reported by the forwarder and its control helpers. Each case
/// carries enough context (address, operation, OS error) for the controller to
/// print a message an operator can act on without reading source.
///
/// ```swift
/// do { _ = try Forwarder.start(listen: stable, control: control) }
/// catch StableAddressError.addressInUse(let e) { print("\(e) is taken") }
/// ```
public enum StableAddressError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// Another process already listens on the stable address.
    case addressInUse(Endpoint)
    /// The host is not an IPv4 address this module can bind or dial.
    case invalidAddress(String)
    /// A system call failed; `operation` names what was being attempted.
    case system(operation: String, errno: Int32)
    /// A wait did not see the expected state before its deadline.
    case timedOut(String)

    public var description: String {
        switch self {
        case .addressInUse(let e):
            return "address \(e) is already in use"
        case .invalidAddress(let text):
            return "invalid IPv4 address: \(text)"
        case .system(let operation, let code):
            return "\(operation): \(String(cString: strerror(code))) (errno \(code))"
        case .timedOut(let what):
            return "timed out: \(what)"
        }
    }

    public var errorDescription: String? { description }
}
