import Foundation
import StableAddress

/// Ports the tests reserve (for a stable address, a peer, a server of their
/// own) come from 20000-22999; Gantry's own processes, and this one's
/// forwarders and servers, pick from 23000-29999 (`GANTRY_PORT_RANGE`, set
/// here before any is started and by scripts/test). A port a test holds
/// for later is then never the one a serving process picks meanwhile.
/// Gantry's share is the larger: picks of separate processes, each
/// rotating from its own start, are kept apart only by the range's size.
public let testPortRange: Range<UInt16> = 20_000..<23_000
public let gantryPortRange = "23000-29999"

/// A free TCP port on 127.0.0.1 from the tests' own range, never repeated
/// in a test run until the range wraps.
///
///     let port = freePort()
///     let url = "http://127.0.0.1:\(port)/health"
public func freePort() -> Int {
    reserveGantryPortRange
    do {
        return Int(try freeLoopbackPort(in: testPortRange))
    } catch {
        fatalError("no free loopback port: \(error)")
    }
}

/// Sets `GANTRY_PORT_RANGE` for the processes the tests start, once.
private let reserveGantryPortRange: Void = {
    if ProcessInfo.processInfo.environment["GANTRY_PORT_RANGE"] == nil { setenv("GANTRY_PORT_RANGE", gantryPortRange, 1) }
}()
