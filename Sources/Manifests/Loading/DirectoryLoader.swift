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
        var out: [String] = []
        guard walk(root, prefix: "", into: &out) else {
            throw Unreadable(path: root, reason: "cannot read directory")
        }
        return out.sorted()
    }

    /// What `FileManager`'s directory enumerator yields, minus hidden
    /// entries and what is under them, read with `readdir`: the enumerator
    /// spent about 100,000 instructions an entry. Like the enumerator, it
    /// does not follow symbolic links to directories and skips
    /// subdirectories it cannot read. False when `directory` cannot be read.
    static func walk(_ directory: String, prefix: String, into out: inout [String]) -> Bool {
        guard let dir = opendir(directory) else { return false }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name.hasPrefix(".") { continue }  // also "." and ".."
            let relative = prefix + name
            if isManifestFile(relative) { out.append(relative) }
            var isDirectory = Int32(entry.pointee.d_type) == Int32(DT_DIR)
            if Int32(entry.pointee.d_type) == Int32(DT_UNKNOWN) {
                var st = stat()
                isDirectory = lstat(directory + "/" + name, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
            }
            if isDirectory { _ = walk(directory + "/" + name, prefix: relative + "/", into: &out) }
        }
        return true
    }

    public static func isManifestFile(_ path: String) -> Bool {
        path.hasSuffix(".yaml") || path.hasSuffix(".yml")
    }

    public static func load(_ root: String) throws -> (set: ManifestSet, diagnostics: [Diagnostic], files: Int) {
        let files = try manifestFiles(under: root)
        let contents = try files.map { path -> (path: String, bytes: [UInt8]) in
            guard let data = FileManager.default.contents(atPath: (root as NSString).appendingPathComponent(path)) else {
                throw Unreadable(path: path, reason: "cannot read file")
            }
            return (path, [UInt8](data))
        }
        let decoded = Parallel.map(contents) { ManifestDecoder.decode(path: $0.path, bytes: $0.bytes) }
        let (set, diagnostics) = ManifestSet.assemble(decoded)
        return (set, diagnostics, files.count)
    }
}
