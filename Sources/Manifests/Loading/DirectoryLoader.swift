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
    /// directories (.git, .gantry) are skipped. A manifest that is a
    /// symbolic link is listed only when it resolves to a regular file
    /// inside `root`; the others are returned apart, unread, so that a
    /// link to a file elsewhere on the machine never has its text printed
    /// in an error.
    public static func manifestFiles(under root: String) throws -> [String] {
        try listing(under: root).files
    }

    static func listing(under root: String) throws -> (files: [String], outside: [String]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Unreadable(path: root, reason: "no such directory")
        }
        var out: [String] = []
        var outside: [String] = []
        let resolvedRoot =
            realpath(root, nil).map { pointer in
                defer { free(pointer) }
                return String(cString: pointer)
            } ?? root
        guard walk(root, prefix: "", root: resolvedRoot, into: &out, outside: &outside) else {
            throw Unreadable(path: root, reason: "cannot read directory")
        }
        return (out.sorted(), outside.sorted())
    }

    /// What `FileManager`'s directory enumerator yields, minus hidden
    /// entries and what is under them, read with `readdir`: the enumerator
    /// spent about 100,000 instructions an entry. Like the enumerator, it
    /// does not follow symbolic links to directories and skips
    /// subdirectories it cannot read. False when `directory` cannot be read.
    static func walk(_ directory: String, prefix: String, root: String, into out: inout [String], outside: inout [String]) -> Bool {
        guard let dir = opendir(directory) else { return false }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name.hasPrefix(".") { continue }  // also "." and ".."
            let relative = prefix + name
            var type = Int32(entry.pointee.d_type)
            if type == Int32(DT_UNKNOWN) {
                var st = stat()
                guard lstat(directory + "/" + name, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: type = Int32(DT_DIR)
                case S_IFLNK: type = Int32(DT_LNK)
                case S_IFREG: type = Int32(DT_REG)
                default: continue
                }
            }
            if type == Int32(DT_DIR) {
                _ = walk(directory + "/" + name, prefix: relative + "/", root: root, into: &out, outside: &outside)
            } else if isManifestFile(relative) {
                if type == Int32(DT_REG) {
                    out.append(relative)
                } else if type == Int32(DT_LNK) {
                    if resolvesInside(directory + "/" + name, root: root) { out.append(relative) } else { outside.append(relative) }
                }
            }
        }
        return true
    }

    /// Whether the link at `path` ends at a regular file under `root`.
    static func resolvesInside(_ path: String, root: String) -> Bool {
        guard let pointer = realpath(path, nil) else { return false }
        defer { free(pointer) }
        let target = String(cString: pointer)
        var st = stat()
        return target.hasPrefix(root.hasSuffix("/") ? root : root + "/") && stat(target, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    public static func isManifestFile(_ path: String) -> Bool {
        path.hasSuffix(".yaml") || path.hasSuffix(".yml")
    }

    public static func load(_ root: String) throws -> (set: ManifestSet, diagnostics: [Diagnostic], files: Int) {
        let (files, outside) = try listing(under: root)
        let contents = try files.map { path -> (path: String, bytes: [UInt8]) in
            guard let data = FileManager.default.contents(atPath: (root as NSString).appendingPathComponent(path)) else {
                throw Unreadable(path: path, reason: "cannot read file")
            }
            return (path, [UInt8](data))
        }
        let decoded = Parallel.map(contents) { ManifestDecoder.decode(path: $0.path, bytes: $0.bytes) }
        var (set, diagnostics) = ManifestSet.assemble(decoded)
        diagnostics += outside.map {
            Diagnostic(
                file: $0, mark: Mark(line: 1, column: 1), field: FieldPath(parsing: ""),
                message: "a symbolic link that leaves the directory (or names no regular file); not read")
        }
        diagnostics.sort(by: Diagnostic.ordered)
        return (set, diagnostics, files.count + outside.count)
    }
}
