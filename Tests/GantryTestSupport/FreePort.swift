import StableAddress

/// A free TCP port on 127.0.0.1, from the same process-wide rotation as the
/// forwarder's own picks, so no two callers in a test run get the same one.
///
///     let port = freePort()
///     let url = "http://127.0.0.1:\(port)/health"
public func freePort() -> Int {
    do {
        return Int(try freeLoopbackPort())
    } catch {
        fatalError("no free loopback port: \(error)")
    }
}
