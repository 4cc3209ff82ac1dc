import ArgumentParser
import FileTree
import Foundation
import Git
import Lineage
import Manifests
import Source
import State

struct DataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Check the data behind Datasets, and the snapshots kept of it.",
        subcommands: [DataStatus.self, Fingerprint.self, DataSnapshot.self, DataCheckout.self, DataDiff.self])
}

struct DataStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show which Datasets changed since the versions trained on them (like dvc status).",
        discussion: """
            Fingerprints every Dataset of the revision (unchanged local files are
            not read again: their hashes are remembered with size, mtime and
            inode) and compares each with the latest version of every model that
            uses it. Exit codes: 0 unchanged, 2 changed, 1 error.

            Examples:
              gantry data status --path examples/quickstart
              gantry data status -o json
            """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var format: FormatOptions

    struct Row: Encodable {
        var dataset: String
        var fingerprint: String?
        var status: String
    }

    func run() async throws {
        // An existing store opens, and its versions are read, before Git is
        // touched; a new store is made only once the revision has been
        // read, so a bad repository leaves no state behind (and a new store
        // has no versions).
        let existing = try state.existingStore()
        var latest: [String: VersionRecord] = [:]
        for v in try existing?.allVersions() ?? [] { latest[v.model] = v }
        let (manifests, revision) = try readManifests(existing: existing)
        let store = try existing ?? state.store()
        if let revision { try remember(revision, in: store) }
        let fingerprinter = Fingerprinter(store: store)
        var rows: [Row] = []
        for (name, dataset) in manifests.datasets.sorted(by: { $0.key < $1.key }) {
            let now: String
            do { now = try await fingerprinter.fingerprint(dataset, in: revision) } catch {
                rows.append(Row(dataset: name, fingerprint: nil, status: "error: \(error)"))
                continue
            }
            let users = manifests.models.values.filter { ($0.spec.datasets ?? []).contains(name) }.map(\.name).sorted()
            var changed: [String] = []
            var untrained: [String] = []
            for model in users {
                guard let v = latest[model], let lineage = Lineage.decode(v.lineage) else {
                    untrained.append(model)
                    continue
                }
                if let was = lineage.datasets[name], was != now { changed.append("\(model)@v\(v.number) (\(was) -> \(now))") }
            }
            let status =
                !changed.isEmpty
                ? "changed since " + changed.joined(separator: ", ")
                : !untrained.isEmpty
                    ? "not trained yet: " + untrained.joined(separator: ", ")
                    : users.isEmpty ? "not used by any model" : "up to date"
            rows.append(Row(dataset: name, fingerprint: now, status: status))
        }
        try rememberListed(in: store)
        if format.output.isData {
            try printData(format.output, rows)
        } else {
            for r in rows { print("\(r.dataset): \(r.status)") }
        }
        if rows.contains(where: { $0.status.hasPrefix("error") }) { throw ExitCode(1) }
        if rows.contains(where: { $0.status.hasPrefix("changed") }) { throw ExitCode(2) }
    }

    /// The file naming the directories the last run listed, one a line.
    static func listedFile(in stateDirectory: String) -> String { stateDirectory + "/data-status-listed" }

    /// Whether the process's `arguments` run this command.
    static func isInvoked(by arguments: [String]) -> Bool { Array(arguments.dropFirst().prefix(2)) == ["data", "status"] }

    /// Started as the process starts, before the arguments are parsed: the
    /// directories the last run on the same state directory listed are
    /// listed again meanwhile (`DirectoryPrefetch`); run again on unchanged
    /// Datasets, that is the whole of the data's part in the command.
    static func prefetch(arguments: [String]) {
        let file = listedFile(in: StateOptions.directory(in: arguments))
        DirectoryPrefetch.start {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return [] }
            return text.split(separator: "\n").map(String.init)
        }
    }

    /// Names this run's directories for the next, when they differ from
    /// the ones predicted.
    func rememberListed(in store: StateStore) throws {
        let listed = DirectoryPrefetch.listed
        guard listed != DirectoryPrefetch.predicted else { return }
        try listed.map { $0 + "\n" }.joined().write(toFile: Self.listedFile(in: store.directory), atomically: true, encoding: .utf8)
    }

    /// The revision's manifests. Run again on a local repository whose ref
    /// has not moved, they are the ones read last time (`ManifestSnapshot`)
    /// and libgit2 is not even loaded; otherwise, or when a Dataset is kept
    /// in Git itself, the revision is read, and returned too.
    func readManifests(existing: StateStore?) throws -> (ManifestSet, Revision?) {
        if let key = GitSource.snapshotKey(location: source.repo, ref: source.ref, path: source.path),
            let saved = try existing?.manifestSnapshot(key),
            let snapshot = ManifestSnapshot(commit: saved.commitID, encoded: saved.files),
            snapshot.isCurrent(location: source.repo, ref: source.ref)
        {
            let set = snapshot.manifests().set
            if !set.datasets.values.contains(where: { !($0.spec.source.path?.hasPrefix("/") ?? true) }) { return (set, nil) }
        }
        let revision = try source.source(state: state).fetch()
        return (revision.manifests, revision)
    }

    /// Keeps the revision's manifest files for the next run, when its ref
    /// files alone lead to this very commit (and they are not kept yet).
    func remember(_ revision: Revision, in store: StateStore) throws {
        guard let key = GitSource.snapshotKey(location: source.repo, ref: source.ref, path: source.path),
            LocalRefs.target(of: source.ref, in: source.repo) == revision.commit.id,
            try store.manifestSnapshot(key)?.commitID != revision.commit.id.hex,
            let snapshot = try revision.snapshot()
        else { return }
        try store.saveManifestSnapshot(key, commitID: snapshot.commit.hex, files: snapshot.encoded())
    }
}

struct Fingerprint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fingerprint",
        abstract: "Print the content fingerprint of a local file or directory.",
        discussion: """
            The same fingerprint a Dataset with that path gets: SHA-256 over the
            sorted path and SHA-256 of every file, hashed on every core.

            Examples:
              gantry data fingerprint /srv/data/churn
              gantry data fingerprint --no-cache /srv/data/churn
            """)

    @OptionGroup var state: StateOptions
    @Flag(help: "Read every file; neither use nor update the remembered hashes.") var noCache = false
    @Argument(help: "A file or directory.", completion: .file()) var path: String

    func run() async throws {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let store = noCache ? nil : try state.store()
        do {
            print(try Fingerprinter(store: store, cacheWrites: !noCache).fingerprint(localPath: absolute, dataset: path))
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}
