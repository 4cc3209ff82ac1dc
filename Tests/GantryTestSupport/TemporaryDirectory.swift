import Foundation

/// A new, empty directory under the system's temporary directory, named
/// `prefix` and a random suffix; the test may leave it behind.
///
///     let state = makeTemporaryDirectory("gantry-state")
public func makeTemporaryDirectory(_ prefix: String = "gantry-test") -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString.prefix(8))"
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        fatalError("cannot make a temporary directory \(path): \(error)")
    }
    return path
}
