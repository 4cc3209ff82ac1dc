import Foundation
import Lineage
import Manifests
import Planner
import State
import Targets

/// Trains a model on its target and registers the version; a launch an
/// earlier controller left running is adopted by its driver.
struct TrainExecutor: ActionExecutor {
    var model: String
    var target: String
    var lineage: Lineage

    func run(_ r: Reconciler, desired: DesiredState) async throws {
        let manifests = desired.manifests
        guard let entry = manifests.models[model], let pipeline = manifests.pipelines[entry.spec.pipeline] else {
            throw DriverError("Model \(model) or its pipeline is not declared at this revision")
        }
        let driver = try r.driver(target, manifests)
        let datasets = manifests.datasets.filter { (entry.spec.datasets ?? []).contains($0.key) }
        var request = TrainingRequest(
            model: entry, pipeline: pipeline, lineage: lineage, revision: desired.revision,
            datasets: try await r.materializeDownloaded(datasets, lineage: lineage))
        if manifests.targetType(target) == .agent { request.pulled = try await r.shareSnapshots(datasets, lineage: lineage) }
        let launch = try r.journal.begin(
            .train, key: Planner.trainKey(model: model, digest: lineage.digest),
            object: "Model/\(model)", target: target)
        do {
            let outcome = try await driver.train(request, launch: launch)
            r.log("  steps: \(outcome.steps.joined(separator: ", "))")
            var lineage = lineage
            lineage.captured = outcome.runtime  // recorded, not part of the digest
            let version = try r.register(model: entry, lineage: lineage, outcome: outcome)
            try r.journal.close(launch.key, .done)
            r.log("  registered \(model)@v\(version.number)" + (version.gatesPassed ? "" : " (gates: \(version.gateReport))"))
            await r.snapshot(datasets, of: version, lineage: lineage)
        } catch is CancellationError {
            throw CancellationError()  // the run goes on; the next controller adopts it
        } catch {
            try r.journal.close(launch.key, .failed)
            throw error
        }
    }
}

extension Reconciler {
    /// Records a version. If an earlier controller registered this lineage
    /// already (killed between registering and closing its launch), that
    /// version is returned rather than a duplicate made.
    func register(model: Entry<ModelSpec>, lineage: Lineage, outcome: TrainingOutcome) throws -> VersionRecord {
        if let existing = try store.version(model.name, digest: lineage.digest) { return existing }
        let (passed, report) = Gates.evaluate(model.spec.promotion?.gates ?? [], metrics: outcome.metrics)
        return try store.registerVersion { number in
            VersionRecord(
                model: model.name, number: number, digest: lineage.digest, lineage: lineage.json,
                metrics: Digest.canonicalJSON(outcome.metrics), artifactPath: outcome.artifactPath,
                artifactDigest: outcome.artifactDigest, commit: lineage.commit, gatesPassed: passed,
                gateReport: report, createdAt: Date())
        }
    }

    /// Datasets with the data a training reads: each one behind a URL or in
    /// S3 with `snapshot: true` becomes a local path, a read-only copy of
    /// the snapshot its lineage names, which is downloaded (and checked
    /// against that fingerprint) or pulled from the snapshot remote first
    /// when this machine lacks it.
    func materializeDownloaded(_ datasets: [String: Entry<DatasetSpec>], lineage: Lineage) async throws -> [String: Entry<DatasetSpec>] {
        let snapshots = SnapshotStore(root: workspace.snapshots)
        var out = datasets
        for (name, dataset) in datasets.sorted(by: { $0.key < $1.key }) where dataset.spec.downloaded {
            guard let fingerprint = lineage.datasets[name] else { continue }
            if !snapshots.holds(fingerprint) {
                if let remote = snapshotRemote, let pulled = try? await remote.pull(fingerprint, into: snapshots) {
                    log("  dataset \(name): pulled its snapshot from \(remote.description) (\(pulled) bytes)")
                }
            }
            if !snapshots.holds(fingerprint) {
                let files = try await Fingerprinter(store: store, cacheWrites: false).download(dataset, expecting: fingerprint)
                let added = try snapshots.keep(
                    dataset: name, fingerprint: fingerprint, files: files,
                    name: files.count == 1 && files[0].path.isEmpty ? SnapshotStore.fileName(dataset.spec.source) : nil)
                log("  snapshot of dataset \(name): downloaded \(files.count) files, \(added) new bytes")
            }
            out[name] = dataset.reading(try snapshots.materialize(fingerprint, fileName: SnapshotStore.fileName(dataset.spec.source)))
        }
        return out
    }

    /// For a training on another machine (an agent): keeps each dataset the
    /// snapshot store can hold now, and pushes it to the snapshot remote,
    /// so that the node trains on exactly the planned data without sharing
    /// this machine's file system. Returns dataset name → fingerprint of
    /// what the remote holds; nothing without a remote (the node then
    /// reads the same paths on its own disk).
    func shareSnapshots(_ datasets: [String: Entry<DatasetSpec>], lineage: Lineage) async throws -> [String: String] {
        guard let remote = snapshotRemote else { return [:] }
        let snapshots = SnapshotStore(root: workspace.snapshots)
        var shared: [String: String] = [:]
        for (name, dataset) in datasets.sorted(by: { $0.key < $1.key }) where dataset.spec.snapshotted {
            guard let fingerprint = lineage.datasets[name] else { continue }
            if let path = dataset.spec.source.path {
                try snapshots.snapshot(dataset: name, path: path, fingerprint: fingerprint, store: store)
            }
            let pushed = try await remote.push(fingerprint, from: snapshots)
            log("  dataset \(name): snapshot in \(remote.description) for the node (\(pushed) new bytes)")
            shared[name] = fingerprint
        }
        return shared
    }

    /// Keeps the version's local datasets in the snapshot store, so that
    /// `reproduce` can restore them after they change. A dataset that
    /// changed since it was fingerprinted is not kept (and said so): the
    /// version stands either way.
    func snapshot(_ datasets: [String: Entry<DatasetSpec>], of version: VersionRecord, lineage: Lineage) async {
        let snapshots = SnapshotStore(root: workspace.snapshots)
        for (name, dataset) in datasets.sorted(by: { $0.key < $1.key }) where dataset.spec.snapshotted {
            guard let fingerprint = lineage.datasets[name] else { continue }
            // Downloaded data was kept before the training.
            if let path = dataset.spec.source.path {
                do {
                    let added = try snapshots.snapshot(dataset: name, path: path, fingerprint: fingerprint, store: store)
                    log("  snapshot of dataset \(name) for v\(version.number): \(added) new bytes")
                } catch {
                    log("  snapshot of dataset \(name) for v\(version.number) not kept: \(error)")
                    continue
                }
            }
            guard let remote = snapshotRemote else { continue }
            do {
                let pushed = try await remote.push(fingerprint, from: snapshots)
                log("  snapshot of dataset \(name) pushed to \(remote.description): \(pushed) new bytes")
            } catch {
                log("  snapshot of dataset \(name) not pushed: \(error)")
            }
        }
    }
}
