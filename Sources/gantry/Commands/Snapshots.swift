import ArgumentParser
import Foundation
import Lineage
import Manifests
import Source
import State

/// The snapshots a version's local datasets were kept in, by dataset name.
func snapshotManifests(_ store: StateStore, _ snapshots: SnapshotStore, _ reference: VersionReference) throws -> [String: SnapshotStore.Manifest] {
    guard let version = try store.version(reference.model, reference.number), let lineage = Lineage.decode(version.lineage) else {
        throw ValidationError("no version \(reference)")
    }
    return SnapshotDiff.manifests(of: lineage, in: snapshots)
}

struct DataSnapshot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Keep a snapshot of a local file or directory now, as a training does (like dvc add).",
        discussion: """
            Fingerprints PATH (unchanged files are not read again) and keeps each
            file the snapshot store lacks, by its SHA-256; prints the fingerprint,
            which `gantry data checkout FINGERPRINT DIR` restores. With
            --snapshot-remote the snapshot is pushed there too.

            Examples:
              gantry data snapshot /srv/data/churn
              gantry data snapshot /srv/data/churn --snapshot-remote s3://ml-snapshots/gantry
            """)

    @OptionGroup var state: StateOptions
    @OptionGroup var snapshotOptions: SnapshotOptions
    @Argument(help: "A file or directory.", completion: .file()) var path: String

    func run() async throws {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let remote = try snapshotOptions.snapshotRemote()
        let store = try state.store()
        let snapshots = SnapshotStore(root: state.workspace.snapshots)
        do {
            let kept = try snapshots.snapshot(dataset: path, path: absolute, store: store, cacheWrites: true)
            print("\(kept.fingerprint)  \(kept.files) files, \(kept.bytes) bytes (\(kept.added) new)")
            if let remote {
                let pushed = try await remote.push(kept.fingerprint, from: snapshots)
                print("pushed \(pushed) bytes to \(remote.description)")
            }
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}

struct DataCheckout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkout",
        abstract: "Write the data a version was trained on, or a snapshot, from the snapshot store into a directory.",
        discussion: """
            For MODEL@VERSION, each local dataset of the version is written to
            DIR/<dataset> as the version saw it; for a FINGERPRINT (what `gantry
            data snapshot` printed), that snapshot is written to DIR itself.
            The files are writable copies; the snapshots stay as they are.

            Examples:
              gantry data checkout churn@3 /tmp/churn-v3-data
              gantry data checkout sha256:5e2f… /tmp/churn-data
            """)

    @OptionGroup var state: StateOptions
    @OptionGroup var snapshotOptions: SnapshotOptions
    @Argument(help: "MODEL@VERSION, such as churn@3, or a snapshot's fingerprint (sha256:…).") var reference: String
    @Argument(help: "The directory to write into (made when missing).", completion: .directory) var directory: String

    func run() async throws {
        let snapshots = SnapshotStore(root: state.workspace.snapshots)
        let remote = try snapshotOptions.snapshotRemote()
        if reference.hasPrefix("sha256:") {
            do {
                if let remote, !snapshots.holds(reference),
                    let pulled = try await remote.pull(reference, into: snapshots)
                {
                    print("pulled \(pulled) bytes from \(remote.description)")
                }
                guard let manifest = snapshots.manifest(reference) else { throw ValidationError("no snapshot \(reference) in \(snapshots.root)") }
                let single = manifest.files.count == 1 && manifest.files[0].path.isEmpty
                try snapshots.restore(reference, to: single ? directory + "/" + (manifest.dataset as NSString).lastPathComponent : directory)
                print("\(manifest.files.count) files, \(manifest.bytes) bytes -> \(directory)")
            } catch {
                printError("error: \(error)")
                throw ExitCode(1)
            }
            return
        }
        guard let version = VersionReference(argument: reference) else {
            throw ValidationError("\(reference): MODEL@VERSION (churn@3) or a snapshot's fingerprint (sha256:…)")
        }
        guard let store = try state.existingStore() else { throw ValidationError("no state in \(state.directory)") }
        if let remote {
            // What this machine lacks comes from the remote first.
            guard let record = try store.version(version.model, version.number), let lineage = Lineage.decode(record.lineage) else {
                throw ValidationError("no version \(version)")
            }
            for (name, fingerprint) in lineage.datasets.sorted(by: { $0.key < $1.key })
            where !snapshots.holds(fingerprint) {
                do {
                    if let pulled = try await remote.pull(fingerprint, into: snapshots) { print("\(name): pulled \(pulled) bytes from \(remote.description)") }
                } catch {
                    printError("error: \(name): \(error)")
                    throw ExitCode(1)
                }
            }
        }
        let manifests = try snapshotManifests(store, snapshots, version)
        guard !manifests.isEmpty else {
            printError("error: \(version) has no data snapshots (a dataset in Git is in its commit; one behind a URL or in S3 is not kept)")
            throw ExitCode(1)
        }
        for (name, manifest) in manifests.sorted(by: { $0.key < $1.key }) {
            let single = manifest.files.count == 1 && manifest.files[0].path.isEmpty
            let target = directory + "/" + name + (single ? "/" + name : "")
            do { try snapshots.restore(manifest.fingerprint, to: target) } catch {
                printError("error: \(name): \(error)")
                throw ExitCode(1)
            }
            print("\(name): \(manifest.files.count) files, \(manifest.bytes) bytes -> \(directory)/\(name)")
        }
    }
}

struct DataDiff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Name the files (and CSV/TSV rows) that differ between two versions' data.",
        discussion: """
            Compares the snapshots of the datasets two versions were trained on:
            files added, removed and modified, with their sizes; for a modified
            .csv or .tsv file, the rows added and removed (as lines, the header
            included when it changed). Exit codes: 0 same data, 2 different, 1 error.

            Examples:
              gantry data diff churn@6 churn@7
              gantry data diff churn@6 churn@7 -o json
            """)

    @OptionGroup var state: StateOptions
    @OptionGroup var format: FormatOptions
    @Argument(help: "The earlier version, MODEL@VERSION.") var from: VersionReference
    @Argument(help: "The later version, MODEL@VERSION.") var to: VersionReference
    @Option(help: "At most this many rows listed per file and direction.") var rows: Int = 20

    func run() async throws {
        guard let store = try state.existingStore() else { throw ValidationError("no state in \(state.directory)") }
        let snapshots = SnapshotStore(root: state.workspace.snapshots)
        let changes = try SnapshotDiff.changes(
            from: try snapshotManifests(store, snapshots, from), to: try snapshotManifests(store, snapshots, to), in: snapshots, rows: rows)
        if format.output.isData {
            try printData(format.output, changes)
        } else if changes.isEmpty {
            print("\(from) and \(to) were trained on the same data")
        } else {
            for c in changes {
                let sizes = [c.sizeBefore.map { "\($0)" }, c.sizeAfter.map { "\($0)" }].compactMap { $0 }.joined(separator: " -> ")
                print("\(c.change.padding(9)) \(c.dataset)/\(c.path)  (\(sizes) bytes)")
                if let added = c.rowsAdded, let removed = c.rowsRemoved {
                    print("          rows: +\(added) -\(removed)")
                    for row in c.addedRows ?? [] { print("          + \(row)") }
                    for row in c.removedRows ?? [] { print("          - \(row)") }
                }
            }
        }
        if !changes.isEmpty { throw ExitCode(2) }
    }
}

struct GC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove data snapshots no version still needs.",
        discussion: """
            Keeps the snapshots of every version a Deployment pins at the
            revision (--repo, --ref, --path), of the last --keep versions of
            each model, and of every version a training or reproduction under
            way uses; removes the rest and reports the bytes freed.

            Examples:
              gantry gc --repo . --keep 3
              gantry gc --dry-run
            """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var state: StateOptions
    @Option(help: "The most recent versions of each model to keep.") var keep: Int = 3
    @Flag(name: .customLong("dry-run"), help: "Report what would be removed, and remove nothing.") var dryRun = false

    func run() async throws {
        guard keep >= 0 else { throw ValidationError("--keep is 0 or more") }
        guard let store = try state.existingStore() else { throw ValidationError("no state in \(state.directory)") }
        let revision: Revision
        do { revision = try source.source(state: state).fetch() } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        guard revision.isValid else {
            printError("error: the revision is invalid, so which versions it pins is unknown; nothing removed")
            throw ExitCode(1)
        }
        var kept: [VersionRecord] = []
        let pinned = Set(revision.manifests.deployments.values.map { "\($0.spec.model)@\($0.spec.version)" })
        for (_, versions) in try store.versionsByModel() {
            let recent = Set(versions.suffix(keep).map(\.number))
            kept += versions.filter { recent.contains($0.number) || pinned.contains("\($0.model)@\($0.number)") }
        }
        var fingerprints = Set(kept.flatMap { Lineage.decode($0.lineage)?.datasets.values.map { $0 } ?? [] })
        // A training under way snapshots its data when it ends: its
        // datasets' current snapshots stay too.
        let training = try store.openIntents().filter { $0.kind == .train }.compactMap { $0.object.split(separator: "/").last.map(String.init) }
        for model in training {
            fingerprints.formUnion(try store.versions(of: model).last.flatMap { Lineage.decode($0.lineage)?.datasets.values.map { $0 } } ?? [])
        }
        let snapshots = SnapshotStore(root: state.workspace.snapshots)
        let removed = try snapshots.collect(keeping: fingerprints, dryRun: dryRun)
        print(
            "\(dryRun ? "would remove" : "removed") \(removed.manifests) dataset snapshots and \(removed.objects) objects, \(removed.bytes) bytes; kept the data of \(kept.count) versions"
        )
    }
}
