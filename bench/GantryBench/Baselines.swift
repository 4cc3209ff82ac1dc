import Foundation
import Manifests

/// What peers that shell out to git do when they poll: `git fetch`, `git
/// diff --name-only` to see what changed, bring the work tree up to date,
/// then decode manifests with the same decoder Gantry uses
/// (`ManifestDecoder.decode` and `ManifestSet.assemble`), so that the
/// comparison isolates the fetch, diff and read strategy.
struct GitCommandLine {
    enum Strategy: String {
        /// Decodes every manifest again when anything changed.
        case decodeAll = "git CLI + decode all"
        /// Decodes only the files `git diff` names, reusing the rest.
        case decodeChanged = "git CLI + decode changed"
    }

    let directory: String
    let strategy: Strategy
    private var decoded: [String: DecodedFile] = [:]
    /// How long the last poll's `git fetch` took, in seconds.
    private(set) var lastFetchSeconds = 0.0

    init(directory: String, strategy: Strategy) throws {
        self.directory = directory
        self.strategy = strategy
        if strategy == .decodeChanged {
            for path in try DirectoryLoader.manifestFiles(under: directory) { decoded[path] = try decode(path) }
        }
    }

    struct Outcome {
        var changed: [String]
        var objects: Int
        var diagnostics: Int
    }

    /// One poll: fetch, diff, update the work tree, decode. Nothing is
    /// decoded when nothing changed.
    mutating func poll() throws -> Outcome {
        let start = Measure.now()
        try Child.check(["git", "-C", directory, "fetch", "-q", "origin"])
        lastFetchSeconds = Measure.now() - start
        let changed = try Child.check(["git", "-C", directory, "diff", "--name-only", "HEAD", "origin/main"])
            .split(separator: "\n").map(String.init)
        guard !changed.isEmpty else { return Outcome(changed: [], objects: 0, diagnostics: 0) }
        try Child.check(["git", "-C", directory, "reset", "-q", "--hard", "origin/main"])
        let set: ManifestSet
        let diagnostics: [Diagnostic]
        switch strategy {
        case .decodeAll:
            (set, diagnostics, _) = try DirectoryLoader.load(directory)
        case .decodeChanged:
            for path in changed where DirectoryLoader.isManifestFile(path) {
                decoded[path] = FileManager.default.fileExists(atPath: directory + "/" + path) ? try decode(path) : nil
            }
            (set, diagnostics) = ManifestSet.assemble(Array(decoded.values))
        }
        return Outcome(changed: changed, objects: set.count, diagnostics: diagnostics.count)
    }

    private func decode(_ path: String) throws -> DecodedFile {
        guard let data = FileManager.default.contents(atPath: directory + "/" + path) else {
            throw BenchFailure("\(directory)/\(path): cannot read file")
        }
        return ManifestDecoder.decode(path: path, bytes: [UInt8](data))
    }
}
