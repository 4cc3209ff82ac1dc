import Foundation

/// What a ref of a local repository points at, read from the files Git
/// keeps its refs in (`HEAD`, loose refs, `packed-refs`) without libgit2.
///
/// A command that only needs to know whether a ref still points where it
/// did last time (`gantry data status`, run again and again like
/// `dvc status`) asks this first and loads libgit2 only when the answer
/// changed. It answers nil whenever the files alone might not say what
/// libgit2 would resolve: a linked worktree or submodule (`.git` is a
/// file), a reftable, replace refs or grafts, a revision expression
/// (`main~1`, `@{u}`), an abbreviated id, a ref whose content is not a
/// plain id or `ref:` line, a SHA-256 repository. A ref name is resolved
/// in libgit2's order (`git_reference_dwim`): the name itself (for
/// all-caps names such as `HEAD`), then under `refs/`, `refs/tags/`,
/// `refs/heads/`, `refs/remotes/`, and `refs/remotes/<name>/HEAD`.
///
///     LocalRefs.target(of: nil, in: "/srv/models")      // HEAD's commit id
///     LocalRefs.target(of: "main", in: "/srv/models")
public enum LocalRefs {
    /// The object id `ref` names (nil: `HEAD`) in the repository at `path`,
    /// a working tree with a `.git` directory or a bare repository; nil
    /// when the ref files do not settle it (see above).
    public static func target(of ref: String?, in path: String) -> ObjectID? {
        guard let gitDirectory = gitDirectory(at: path) else { return nil }
        let name = ref ?? "HEAD"
        if name.utf8.count == 40, let id = ObjectID(hex: name.lowercased()) { return id }
        guard isPlainName(name) else { return nil }
        var store = RefFiles(directory: gitDirectory)
        guard store.isPlain else { return nil }
        // A one-level name other than HEAD-like all-caps ones is not a ref
        // to Git; should a file of that name exist, leave it to libgit2.
        let oneLevel = !name.contains("/") && !name.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || $0 == 95 }
        for candidate in [name, "refs/\(name)", "refs/tags/\(name)", "refs/heads/\(name)", "refs/remotes/\(name)", "refs/remotes/\(name)/HEAD"] {
            switch store.resolve(candidate, depth: 0) {
            case .missing: continue
            case .id where oneLevel && candidate == name: return nil
            case .unsure: return nil
            case .id(let id): return id
            }
        }
        return nil
    }

    /// The repository's own directory: `path/.git` when it is a directory,
    /// else `path` itself when it is a bare repository; what libgit2 opens
    /// without searching upwards.
    static func gitDirectory(at path: String) -> String? {
        let dotGit = path + "/.git"
        var st = stat()
        if lstat(dotGit, &st) == 0 {
            // A `.git` file points elsewhere (a worktree, a submodule).
            return (st.st_mode & S_IFMT) == S_IFDIR && isRepository(dotGit) ? dotGit : nil
        }
        return isRepository(path) ? path : nil
    }

    private static func isRepository(_ directory: String) -> Bool {
        var st = stat()
        return stat(directory + "/HEAD", &st) == 0 && stat(directory + "/objects", &st) == 0 && stat(directory + "/refs", &st) == 0
    }

    /// Letters, digits and `._/-`, no `..`, no empty component, no `.lock`:
    /// a ref name and nothing that libgit2's revision parser would read as
    /// an expression.
    static func isPlainName(_ name: String) -> Bool {
        guard !name.isEmpty, !name.hasPrefix("/"), !name.hasSuffix("/"), !name.hasSuffix("."), !name.hasSuffix(".lock"),
            !name.contains(".."), !name.contains("//"), !name.contains("/."), !name.hasPrefix(".")
        else { return false }
        return name.utf8.allSatisfy { b in
            (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 46 || b == 95 || b == 47 || b == 45
        }
    }
}

/// The ref files of one Git directory, `packed-refs` read at most once.
private struct RefFiles {
    enum Answer { case id(ObjectID), missing, unsure }

    let directory: String
    private var packed: [String: ObjectID]?

    init(directory: String) { self.directory = directory }

    /// False when refs may live elsewhere or objects may be substituted:
    /// a reftable, a `commondir` (a linked worktree's), replace refs,
    /// grafts.
    var isPlain: Bool {
        var st = stat()
        for other in ["reftable", "commondir", "info/grafts", "refs/replace"] where stat(directory + "/" + other, &st) == 0 {
            return false
        }
        return true
    }

    mutating func resolve(_ name: String, depth: Int) -> Answer {
        guard depth < 5 else { return .unsure }
        var st = stat()
        let file = directory + "/" + name
        if lstat(file, &st) == 0 {
            // A directory (`refs/heads` when asked for `heads`) is no ref;
            // a symbolic link (an old-style HEAD) is left to libgit2.
            if (st.st_mode & S_IFMT) == S_IFDIR { return .missing }
            guard (st.st_mode & S_IFMT) == S_IFREG else { return .unsure }
            guard let bytes = read(file) else { return .unsure }
            let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if text.hasPrefix("ref: ") {
                let target = String(text.dropFirst(5))
                guard LocalRefs.isPlainName(target), target == "HEAD" || target.hasPrefix("refs/") else { return .unsure }
                switch resolve(target, depth: depth + 1) {
                case .missing: return .unsure  // unborn or dangling: libgit2's error, not ours
                case let answer: return answer
                }
            }
            return ObjectID(hex: text).map(Answer.id) ?? .unsure
        }
        guard let table = packedRefs() else { return .unsure }
        return table[name].map(Answer.id) ?? .missing
    }

    /// `packed-refs` as name to id (peeled `^` lines skipped); empty when
    /// there is none, nil when it cannot be read or names replace refs.
    private mutating func packedRefs() -> [String: ObjectID]? {
        if let packed { return packed }
        let file = directory + "/packed-refs"
        var table: [String: ObjectID] = [:]
        if access(file, F_OK) == 0 {
            guard let bytes = read(file) else { return nil }
            for line in bytes.split(separator: UInt8(ascii: "\n")) {
                guard let first = line.first, first != UInt8(ascii: "#"), first != UInt8(ascii: "^") else { continue }
                guard line.count > 41, line[line.startIndex + 40] == UInt8(ascii: " "),
                    let id = ObjectID(hex: String(decoding: line.prefix(40), as: UTF8.self))
                else { return nil }
                let name = String(decoding: line.dropFirst(41), as: UTF8.self)
                if name.hasPrefix("refs/replace/") { return nil }
                table[name] = id
            }
        }
        packed = table
        return table
    }

    private func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { return nil }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }
}
