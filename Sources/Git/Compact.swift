import CGit2
import Foundation

extension Repository {
    /// The pack files in this repository's object store, by path: those
    /// with an index, as libgit2 counts them (a pack without one is a write
    /// that never finished).
    public var packFiles: [String] {
        let dir = packDirectory
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
        return names.filter { $0.hasSuffix(".pack") && names.contains(String($0.dropLast(".pack".count)) + ".idx") }
            .sorted().map { dir + "/" + $0 }
    }

    var packDirectory: String { (gitDirectory as NSString).appendingPathComponent("objects/pack") }

    /// When the store holds more than `limit` packs, packs the smaller
    /// ones into one, deletes them and reopens the handle. Returns whether
    /// it did.
    ///
    /// Every fetch leaves a pack of its own, and libgit2 keeps each one
    /// open, its index mapped, for the life of the handle, and searches them
    /// in turn: a controller fetching each push for months would hold
    /// thousands. Which packs are merged follows `git repack --geometric=2`
    /// (see `packsToMerge`): the packs left alone grow at least twofold from
    /// one to the next, so the first clone's pack is rewritten only once
    /// the objects fetched since come to half its size, and the work each
    /// time is the recent objects, not everything merged before. Nothing is
    /// dropped, unlike `git gc`: a revision pinned by commit id stays
    /// readable.
    ///
    ///     try cache.fetch(from: url)
    ///     try cache.compactPacks(above: 16)
    ///
    /// `directory` is where the new pack is written; only tests name another.
    /// When writing fails, the old packs stay and nothing changes.
    @discardableResult
    public func compactPacks(above limit: Int, writingTo directory: String? = nil) throws(GitError) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let packs = packFiles
        guard packs.count > limit else { return false }
        let size = { (pack: String) -> Int in
            var info = stat()
            return stat(pack, &info) == 0 ? Int(info.st_size) : 0
        }
        let bySize = packs.map { (path: $0, size: size($0)) }.sorted { $0.size < $1.size }
        let count = Self.packsToMerge(sizes: bySize.map(\.size), limit: limit)
        guard count >= 2 else { return false }
        let merged = bySize.prefix(count).map(\.path)
        let written = try Self.pack(objectsOf: merged, from: pointer, into: directory ?? packDirectory)
        // libgit2 maps the old packs until the repository (and the remotes
        // made from it) are freed.
        remotes.values.forEach { git_remote_free($0) }
        remotes = [:]
        pointer = try Self.reopen(pointer, at: path)
        for pack in merged where pack != written {
            let base = String(pack.dropLast(".pack".count))
            for suffix in [".pack", ".idx", ".rev", ".keep"] { unlink(base + suffix) }
        }
        return true
    }

    /// How many of the packs, `sizes` in ascending order, to merge: the
    /// smallest `n`, chosen as `git repack --geometric=2` chooses them. The
    /// packs from the top down that each are at least twice the next
    /// smaller one stay; so does any of them at least twice the size of all
    /// that are merged. When that would still leave more than `limit`, the
    /// smallest packs are merged until half of `limit` remain.
    ///
    ///     Repository.packsToMerge(sizes: [1, 1, 1, 1000], limit: 2)  // 3
    static func packsToMerge(sizes: [Int], limit: Int) -> Int {
        let factor = 2
        let n = sizes.count
        guard n >= 2 else { return 0 }
        var split = n - 1
        while split > 0 && sizes[split] >= factor * sizes[split - 1] { split -= 1 }
        if split > 0 { split += 1 }  // the larger of the pair that broke the progression goes too
        if n - split + 1 > limit { split = max(split, n - max(limit / 2, 1) + 1) }
        var total = sizes.prefix(split).reduce(0, +)
        while split < n && sizes[split] < factor * total {
            total += sizes[split]
            split += 1
        }
        return split
    }

    /// Writes the objects of `packs` into one new pack in `directory`,
    /// reading them through `repo`; returns the new pack's path.
    private static func pack(objectsOf packs: [String], from repo: OpaquePointer, into directory: String) throws(GitError) -> String {
        // An object store of just those packs lists their objects.
        var listing: OpaquePointer?
        try check(git_odb_new(&listing), "list packs")
        defer { git_odb_free(listing) }
        for (i, pack) in packs.enumerated() {
            let index = String(pack.dropLast(".pack".count)) + ".idx"
            var backend: OpaquePointer?
            try check(git_odb_backend_one_pack(&backend, index), "read \(index)")
            try check(git_odb_add_backend(listing, backend, Int32(i + 1)), "read \(index)")
        }
        var ids: [git_oid] = []
        let listed = withUnsafeMutablePointer(to: &ids) { out in
            git_odb_foreach(
                listing,
                { id, payload in
                    payload!.assumingMemoryBound(to: [git_oid].self).pointee.append(id!.pointee)
                    return 0
                }, out)
        }
        try check(listed, "list the objects of \(packs.count) packs")

        var builder: OpaquePointer?
        try check(git_packbuilder_new(&builder, repo), "start a pack")
        defer { git_packbuilder_free(builder) }
        // The delta search stays on this thread: with the packbuilder's own
        // threads (git_packbuilder_set_threads), each left a malloc arena
        // behind: `gantry-bench memory --reconciles 1000` grew 2.1-3.0 MiB of
        // anonymous memory from reconcile 100 to 1000, against +0.5 at most
        // without.
        for var id in ids {
            try check(git_packbuilder_insert(builder, &id, nil), "add \(ObjectID(&id).short) to a pack")
        }
        try check(git_packbuilder_write(builder, directory, 0, nil, nil), "write a pack into \(directory)")
        guard let name = git_packbuilder_name(builder) else {
            throw GitError(operation: "write a pack into \(directory)", code: -1, message: "libgit2 named no pack")
        }
        return directory + "/pack-" + String(cString: name) + ".pack"
    }

    /// A fresh handle on the repository at `path`; the old one is freed
    /// once the new one is open.
    private static func reopen(_ old: OpaquePointer, at path: String) throws(GitError) -> OpaquePointer {
        var fresh: OpaquePointer?
        try check(git_repository_open_ext(&fresh, path, UInt32(GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue), nil), "open \(path)")
        git_repository_free(old)
        return fresh!
    }
}
