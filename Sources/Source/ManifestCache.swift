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
    /// How many loads were updates from the changed files alone, the tree
    /// not listed.
    private(set) var updates = 0

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
        let cache = files
        let last = lastResult
        lock.unlock()
        for file in listing where Self.isManifest(file.path) {
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
        let (set, diagnostics) =
            last.flatMap { last in
                last.diagnostics.isEmpty && last.count - removed.count + added.count == decoded.count
                    ? last.set.replacing(removed, with: added) : nil
            }
            ?? {
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

    /// The tree of the last load.
    var tree: ObjectID? { lock.withLock { lastTree } }

    /// Past this many changed files a load lists and assembles the tree
    /// (decoding the new files on every core) rather than update the set.
    static let updateLimit = 64

    /// The last load brought forward to `tree` from the files that differ
    /// from the last load's tree, `base`: only those are read and decoded.
    /// Nil when the last load was not at `base`, or the changes cannot
    /// simply replace objects of the last set (see `ManifestSet.replacing`);
    /// then `load` has to list and assemble the tree.
    func update(
        from base: ObjectID, to tree: ObjectID, changes: [TreeChange],
        read: (ObjectID) throws -> [UInt8]
    ) throws -> (set: ManifestSet, diagnostics: [Diagnostic], count: Int)? {
        let relevant = changes.filter { Self.isManifest($0.path) }
        guard relevant.count <= Self.updateLimit else { return nil }
        lock.lock()
        guard lastTree == base, let last = lastResult else {
            lock.unlock()
            return nil
        }
        var next = files
        files = [:]  // taken out, so that it is updated in place
        lock.unlock()
        var removed: [(key: Key, file: DecodedFile)] = []
        var added: [DecodedFile] = []
        var known = true
        do {
            for change in relevant {
                if let old = change.old {
                    let key = Key(path: change.path, blob: old)
                    guard let file = next.removeValue(forKey: key) else {
                        known = false
                        break
                    }
                    removed.append((key, file))
                }
                if let new = change.new {
                    let file = ManifestDecoder.decode(path: change.path, bytes: try read(new))
                    next[Key(path: change.path, blob: new)] = file
                    added.append(file)
                }
            }
        } catch {
            // A blob that cannot be read: the cache as it was.
            for (key, file) in removed { next[key] = file }
            lock.withLock { files = next }
            throw error
        }
        let count = last.count - removed.count + added.count
        var result: (set: ManifestSet, diagnostics: [Diagnostic], count: Int)?
        if relevant.isEmpty {
            result = last  // a change outside the manifests: the very same set
        } else if known, last.diagnostics.isEmpty, let replaced = last.set.replacing(removed.map(\.file), with: added) {
            result = (replaced.set, replaced.diagnostics, count)
        }
        lock.lock()
        defer { lock.unlock() }
        decodes += added.count
        guard let result else {
            // The old files back; the new ones stay, for the load of the
            // whole tree that follows.
            for (key, file) in removed { next[key] = file }
            files = next
            return nil
        }
        files = next
        lastTree = tree
        lastResult = result
        updates += 1
        return result
    }

    /// A YAML file outside hidden directories: what a revision decodes.
    static func isManifest(_ path: String) -> Bool {
        DirectoryLoader.isManifestFile(path) && !path.split(separator: "/").contains { $0.hasPrefix(".") }
    }
}
