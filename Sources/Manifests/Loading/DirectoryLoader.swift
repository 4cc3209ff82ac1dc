import Foundation
import YAML

/// Reads every manifest under a directory of the file system, as `validate`
/// does for a working tree.
///
///     let (set, diagnostics) = try DirectoryLoader.load("examples/quickstart")
public enum DirectoryLoader {
    public struct Unreadable: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): error: \(reason)" }
    }

    /// Paths of YAML files under `root`, relative to it and sorted; hidden
    /// directories (.git, .gantry) are skipped.
    public static func manifestFiles(under root: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Unreadable(path: root, reason: "no such directory")
        }
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw Unreadable(path: root, reason: "cannot read directory")
        }
        var out: [String] = []
        while let relative = walker.nextObject() as? String {
            let name = (relative as NSString).lastPathComponent
            if name.hasPrefix(".") {
                walker.skipDescendants()
                continue
            }
            if isManifestFile(relative) { out.append(relative) }
        }
        return out.sorted()
    }

    public static func isManifestFile(_ path: String) -> Bool {
        path.hasSuffix(".yaml") || path.hasSuffix(".yml")
    }

    public static func load(_ root: String) throws -> (set: ManifestSet, diagnostics: [Diagnostic], files: Int) {
        let files = try manifestFiles(under: root)
        let decoded = try files.map { path -> DecodedFile in
            guard let data = FileManager.default.contents(atPath: (root as NSString).appendingPathComponent(path)) else {
                throw Unreadable(path: path, reason: "cannot read file")
            }
            return ManifestDecoder.decode(path: path, bytes: [UInt8](data))
        }
        let (set, diagnostics) = ManifestSet.assemble(decoded)
        return (set, diagnostics, files.count)
    }
}
