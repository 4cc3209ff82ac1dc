import Foundation
import Git
import Manifests

/// Decoded manifest files keyed by path and blob id, and the last assembled
/// set keyed by the project root's tree id: a revision that changes one file
/// decodes one file; a revision whose root tree did not change decodes none.
final class ManifestCache: @unchecked Sendable {
    struct Key: Hashable {
        var path: String
        var blob: ObjectID
    }

    private let lock = NSLock()
    private var files: [Key: DecodedFile] = [:]
    private var lastTree: ObjectID?
    private var lastResult: (set: ManifestSet, diagnostics: [Diagnostic], count: Int)?
    private(set) var decodes = 0
    /// How many loads assembled every file rather than the changed ones.
    private(set) var assemblies = 0

    func assembled(tree: ObjectID?) -> (set: ManifestSet, diagnostics: [Diagnostic], count: Int)? {
        lock.lock()
        defer { lock.unlock() }
        return tree != nil && tree == lastTree ? lastResult : nil
    }

    func load(tree: ObjectID?, listing: [TreeFile], read: (ObjectID) throws -> [UInt8]) throws -> (set: ManifestSet, diagnostics: [Diagnostic], count: Int) {
        if let hit = assembled(tree: tree) { return hit }
        var keys: [Key] = []
        var known: [Key: DecodedFile] = [:]
        var missing: [(key: Key, bytes: [UInt8])] = []
        lock.lock()
        let cache = files, last = lastResult
        lock.unlock()
        for file in listing where DirectoryLoader.isManifestFile(file.path) && !isHidden(file.path) {
            let key = Key(path: file.path, blob: file.blob)
            keys.append(key)
            if let cached = cache[key] { known[key] = cached } else { missing.append((key, try read(file.blob))) }
        }
        // A first fetch decodes every file: on all cores.
        for (m, d) in zip(missing, Parallel.map(missing) { ManifestDecoder.decode(path: $0.key.path, bytes: $0.bytes) }) {
            known[m.key] = d
        }
        lock.lock()
        decodes += missing.count
        lock.unlock()
        let decoded = keys.map { known[$0]! }
        let next = known
        // Against the last revision, usually a few files changed: their
        // objects replace the old ones in the last set when that is sound
        // (see `ManifestSet.replacing`), else every file is assembled.
        let removed = cache.filter { next[$0.key] == nil }.map(\.value)
        let added = missing.map { known[$0.key]! }
        let (set, diagnostics) = last.flatMap { last in
            last.diagnostics.isEmpty && last.count - removed.count + added.count == decoded.count
                ? last.set.replacing(removed, with: added) : nil
        } ?? {
            lock.withLock { assemblies += 1 }
            return ManifestSet.assemble(decoded)
        }()
        let result = (set, diagnostics, decoded.count)
        lock.lock()
        files = next  // keep only what the latest revision uses
        lastTree = tree
        lastResult = result
        lock.unlock()
        return result
    }

    private func isHidden(_ path: String) -> Bool {
        path.split(separator: "/").contains { $0.hasPrefix(".") }
    }
}
