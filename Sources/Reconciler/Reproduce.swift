import Foundation
import Lineage
import Manifests
import Source
import State
import Targets

/// The outcome of rebuilding a version from its lineage.
public struct Reproduction: Codable, Sendable {
    public struct Metric: Codable, Sendable, Hashable {
        public var name: String
        public var recorded: Double?
        public var reproduced: Double?
        public var matches: Bool { recorded == reproduced }
    }

    public var model: String
    public var version: Int
    public var commit: String
    /// Why the data no longer matches the lineage; training does not start
    /// when there is any.
    public var dataProblems: [String]
    /// Datasets that changed since the version was trained and were
    /// restored from its snapshot for the rerun.
    public var restored: [String] = []
    public var recordedArtifact: String
    public var reproducedArtifact: String?
    public var metrics: [Metric]
    public var runDirectory: String?
    /// How what the rerun ran on differs from what the version ran on
    /// (empty: the same, or nothing was captured then).
    public var runtimeChanges: [String] = []

    public var artifactMatches: Bool { reproducedArtifact == recordedArtifact }
    public var matches: Bool { dataProblems.isEmpty && artifactMatches && metrics.allSatisfy(\.matches) }
}

extension Reconciler {
    public struct ReproduceFailure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Checks out version `number`'s commit, verifies that its datasets
    /// still have the recorded fingerprints, trains again in a scratch
    /// directory (no step cache, nothing registered) and compares artifact
    /// digest and metrics.
    public func reproduce(model: String, number: Int, source: GitSource) async throws -> Reproduction {
        guard let version = try store.version(model, number), let recorded = Lineage.decode(version.lineage) else {
            throw ReproduceFailure(description: "no version \(model)@\(number)")
        }
        try source.update()
        let revision: Revision
        do { revision = try source.revision(at: recorded.commit) } catch {
            throw ReproduceFailure(description: "commit \(recorded.commit.prefix(12)) of \(model)@v\(number) is not in \(source.location)")
        }
        var report = Reproduction(
            model: model, version: number, commit: recorded.commit, dataProblems: [],
            recordedArtifact: version.artifactDigest, reproducedArtifact: nil, metrics: [], runDirectory: nil)
        let fingerprinter = Fingerprinter(store: store, cacheWrites: false)
        let stamp = Int(Date().timeIntervalSince1970)
        let scratchRoot = (workspace.root as NSString).appendingPathComponent("reproductions/\(model)-v\(number)-\(stamp)")
        let snapshots = SnapshotStore(root: workspace.snapshots)
        // Datasets whose data changed, each restored from the version's
        // snapshot into the scratch directory: name → where it now is.
        var restoredPaths: [String: String] = [:]
        for (name, was) in recorded.datasets.sorted(by: { $0.key < $1.key }) {
            guard let dataset = revision.manifests.datasets[name] else {
                report.dataProblems.append("dataset \(name) is not declared at \(recorded.commit.prefix(12))")
                continue
            }
            let now: String
            do { now = try await fingerprinter.fingerprint(dataset, in: revision) } catch { now = "missing (\(error))" }
            guard now != was else { continue }
            if let remote = snapshotRemote, !snapshots.holds(was) {
                do {
                    if let pulled = try await remote.pull(was, into: snapshots) {
                        report.restored.append("dataset \(name): pulled its snapshot from \(remote.description) (\(pulled) bytes)")
                    }
                } catch {
                    report.dataProblems.append("dataset \(name) changed and its snapshot could not be pulled: \(error)")
                    continue
                }
            }
            if let manifest = snapshots.manifest(was), snapshots.missing(manifest).isEmpty, dataset.spec.snapshotted {
                let target =
                    scratchRoot + "/data/\(name)"
                    + (manifest.files.count == 1 && manifest.files[0].path.isEmpty ? "/" + SnapshotStore.fileName(dataset.spec.source) : "")
                do {
                    try snapshots.restore(was, to: target)
                    restoredPaths[name] = target
                    report.restored.append(
                        "dataset \(name) changed since v\(number) (now \(now)); restored its \(manifest.files.count) files (\(manifest.bytes) bytes) from the snapshot"
                    )
                    continue
                } catch {
                    report.dataProblems.append("dataset \(name) changed and its snapshot could not be restored: \(error)")
                    continue
                }
            }
            report.dataProblems.append(
                now.hasPrefix("missing")
                    ? "dataset \(name) is \(now), and no snapshot of it was kept"
                    : "dataset \(name) changed: recorded \(was), now \(now), and no snapshot of it was kept")
        }
        guard report.dataProblems.isEmpty else { return report }

        let entry: Entry<ModelSpec>
        let pipeline: Entry<PipelineSpec>
        let lineage: Lineage
        if restoredPaths.isEmpty {
            let desired = await DesiredState.compute(revision, fingerprinter: fingerprinter)
            guard let computed = desired.lineage(of: model), let e = revision.manifests.models[model],
                let p = revision.manifests.pipelines[e.spec.pipeline]
            else {
                throw ReproduceFailure(
                    description:
                        "cannot rebuild the lineage of \(model) at \(recorded.commit.prefix(12)): \(desired.models[model]?.problem ?? "model not declared")")
            }
            (entry, pipeline, lineage) = (e, p, computed)
        } else {
            // The data is the recorded data again: so is the lineage.
            guard let e = revision.manifests.models[model], let p = revision.manifests.pipelines[e.spec.pipeline] else {
                throw ReproduceFailure(description: "\(model) or its pipeline is not declared at \(recorded.commit.prefix(12))")
            }
            (entry, pipeline, lineage) = (e, p, recorded)
        }
        let scratch = Workspace(root: scratchRoot, executable: workspace.executable)
        var datasets = revision.manifests.datasets.filter { (entry.spec.datasets ?? []).contains($0.key) }
        for (name, path) in restoredPaths {
            datasets[name] = datasets[name]?.reading(path)
        }
        // Downloaded data that did not change is read from its snapshot
        // too, as the training read it.
        datasets = try await materializeDownloaded(datasets, lineage: lineage)
        let request = TrainingRequest(model: entry, pipeline: pipeline, lineage: lineage, revision: revision, datasets: datasets)
        let key = "reproduce:\(model):\(number):\(stamp)"
        let outcome: TrainingOutcome
        let launch = try journal.begin(.train, key: key, object: "Model/\(model)", target: ManifestSet.implicitLocalTarget)
        do {
            outcome = try await LocalTarget(workspace: scratch).train(request, launch: launch)
            try journal.close(key, .done)
        } catch {
            try journal.close(key, .failed)
            throw error
        }
        report.reproducedArtifact = outcome.artifactDigest
        if let then = recorded.captured, let now = outcome.runtime { report.runtimeChanges = now.changes(since: then) }
        report.runDirectory = scratch.run(model: model, digest: lineage.digest)
        let before = version.metricValues
        report.metrics = Set(before.keys).union(outcome.metrics.keys).sorted().map {
            Reproduction.Metric(name: $0, recorded: before[$0], reproduced: outcome.metrics[$0])
        }
        return report
    }
}
