import Foundation
import HTTP
import Lineage
import Manifests
import Source
import StableAddress
import State

/// The driver for an on-prem node running `gantry agent`: training and
/// serving happen on the node, through its REST API
/// (docs/agent-openapi.yaml), with the target's `credentials.token` as a
/// bearer token.
///
/// Files travel by digest and only when the node lacks them: the project at
/// the revision (a tar), a version's artifact. A training run's id comes
/// from its lineage digest, so a retry or a restarted controller adopts the
/// run instead of starting another; its artifact is fetched back and kept
/// by digest like a local one. A deployment's record keeps the node's
/// answer in `detail`.
///
///     let driver = try AgentTarget(DriverContext(name: "gpu-node-1", spec: spec, workspace: workspace, versions: store))
///     let outcome = try await driver.train(request, launch: launch)
public struct AgentTarget: TargetDriver {
    let name: String
    let endpoint: String
    let workspace: Workspace
    /// Actions: retried with backoff, long enough for a rollout.
    let client: RESTClient
    /// Observation: a short timeout and one retry, so an unreachable node
    /// is reported within seconds.
    let observer: RESTClient
    let pollInterval: Duration

    /// What a deployment record's `detail` holds: the node and its answer.
    struct Detail: Codable {
        var agent: String
        var serveProcess: String
        var forwarderProcess: String
        var backendPort: Int
    }

    public init(
        _ context: DriverContext, timeout: Duration = .seconds(30), retry: RetryPolicy = .standard,
        observeTimeout: Duration = .seconds(4), pollInterval: Duration = .milliseconds(200)
    ) throws {
        guard let endpoint = context.spec.endpoint, !endpoint.isEmpty else {
            throw DriverError("target \(context.name): an agent target needs spec.endpoint, such as http://gpu-node-1:7443")
        }
        guard let token = try context.credential("token") else {
            throw DriverError("target \(context.name): an agent target needs credentials.token ({ env: NAME } or { file: PATH })")
        }
        name = context.name
        self.endpoint = endpoint
        workspace = context.workspace
        // Over https, the agent's certificate is checked against caFile (or
        // the system's CAs) and, with mutual TLS, this controller shows its
        // own certificate; both files are read by libcurl.
        let certificate = context.spec.credentials?["clientCertificate"]?.file
        let key = context.spec.credentials?["clientKey"]?.file
        let tls =
            context.spec.caFile != nil || certificate != nil
            ? TLSClientFiles(caFile: context.spec.caFile, certificateFile: certificate, keyFile: key) : nil
        var client = RESTClient(baseURL: endpoint, auth: .bearer(token), retry: retry, timeout: timeout)
        client.tls = tls
        self.client = client
        var observer = RESTClient(
            baseURL: endpoint, auth: .bearer(token), retry: RetryPolicy(attempts: 2, initialDelay: .milliseconds(100)),
            timeout: observeTimeout, connectTimeout: observeTimeout)
        observer.tls = tls
        self.observer = observer
        self.pollInterval = pollInterval
    }

    /// Runs `body`, naming this target in any error.
    func onAgent<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw DriverError("agent \(name) (\(HTTPError.redact(endpoint))): \(what): \(error)")
        }
    }

    // MARK: - Training

    public func train(_ request: TrainingRequest, launch: Launch) async throws -> TrainingOutcome {
        let info: AgentAPI.Info = try await onAgent("info") { try await client.get("/v1/info") }
        let node = Workspace(root: info.workspace, executable: "gantry")
        let runDirectory = node.run(model: request.model.name, digest: request.lineage.digest)
        let id = (runDirectory as NSString).lastPathComponent
        let project = try await ship(request.revision)
        // Data in the snapshot remote is read from the node's own copy of it.
        var request = request
        var data: [String: String] = [:]
        let nodeSnapshots = SnapshotStore(root: node.snapshots)
        for (name, fingerprint) in request.pulled.sorted(by: { $0.key < $1.key }) {
            guard let dataset = request.datasets[name], let manifest = SnapshotStore(root: workspace.snapshots).manifest(fingerprint) else { continue }
            let single = manifest.files.count == 1 && manifest.files[0].path.isEmpty
            let fileName = single ? SnapshotStore.fileName(dataset.spec.source) : ""
            data[fingerprint] = fileName
            request.datasets[name] = dataset.reading(nodeSnapshots.checkoutPath(fingerprint, fileName: single ? fileName : nil))
        }
        let job = try RunFiles(workspace: workspace).makeJob(
            request, runDirectory: runDirectory, project: Self.projectPath(in: node, project), cacheDirectory: node.stepCache)
        try launch.started(Digest.canonicalJSON(["agent": name, "run": id]))
        let spec = request.pipeline.spec
        var status: AgentAPI.RunStatus = try await onAgent("start run \(id)") {
            try await client.call(
                "PUT", "/v1/runs/\(id)",
                json: AgentAPI.RunRequest(
                    model: request.model.name, lineageDigest: request.lineage.digest, project: project, job: job,
                    artifact: spec.artifact, metrics: spec.metrics, data: data.isEmpty ? nil : data))
        }
        while status.state == "running" {
            try await Task.sleep(for: pollInterval)
            status = try await onAgent("run \(id)") { try await client.get("/v1/runs/\(id)") }
        }
        guard status.state == "succeeded", let artifact = status.artifact else {
            throw DriverError("agent \(name): run \(id) failed: \(status.error ?? "no artifact")")
        }
        let stored = try await fetch(artifact)
        return TrainingOutcome(
            artifactPath: stored.path, artifactDigest: stored.digest, metrics: status.metrics ?? [:],
            steps: status.steps)
    }

    /// Where the node finds `project`'s files (see ``AgentNode``).
    static func projectPath(in node: Workspace, _ project: AgentAPI.Project) -> String {
        let checkout = node.checkout(project.commit)
        return project.root.isEmpty ? checkout : (checkout as NSString).appendingPathComponent(project.root)
    }

    /// The revision's files as a tar blob on the node.
    func ship(_ revision: Revision) async throws -> AgentAPI.Project {
        _ = try Checkouts(workspace: workspace).project(revision)
        let commit = revision.commit.id.hex
        let blob = try await packAndUpload(workspace.checkout(commit), as: workspace.checkout(commit) + ".tar")
        return AgentAPI.Project(commit: commit, blob: blob, root: revision.root)
    }

    /// Packs `directory` into a tar of this call's own next to `archive`
    /// (the nodes of one wave are shipped at the same time), sends it
    /// unless the node has it, and removes it. Returns its digest.
    func packAndUpload(_ directory: String, as archive: String) async throws -> String {
        let own = archive + ".\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: own) }
        let blob = try await Tarball.pack(directory: directory, into: own)
        try await upload(own, digest: blob)
        return blob
    }

    /// Sends the file as blob `digest` unless the node has it.
    func upload(_ path: String, digest: String) async throws {
        try await onAgent("upload \(digest)") {
            let head = try await client.send("HEAD", "/v1/blobs/\(digest)", accept: [404])
            guard head.status == 404 else { return }
            guard let data = FileManager.default.contents(atPath: path) else { throw DriverError("cannot read \(path)") }
            try await client.send("PUT", "/v1/blobs/\(digest)", body: Array(data), contentType: "application/octet-stream")
        }
    }

    /// Fetches a run's artifact from the node, checks its digest and keeps
    /// it by digest in this workspace.
    func fetch(_ artifact: AgentAPI.Artifact) async throws -> (path: String, digest: String) {
        let response = try await onAgent("fetch artifact \(artifact.blob)") { try await client.send("GET", "/v1/blobs/\(artifact.blob)") }
        let received = "sha256:" + Digest.sha256(response.body)
        guard received == artifact.blob else {
            throw DriverError("agent \(name): artifact blob \(artifact.blob) arrived with digest \(received)")
        }
        let scratch = workspace.path("incoming", UUID().uuidString)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let path = (scratch as NSString).appendingPathComponent(artifact.name)
        if artifact.directory {
            let archive = scratch + ".tar"
            try Data(response.body).write(to: URL(fileURLWithPath: archive))
            defer { try? FileManager.default.removeItem(atPath: archive) }
            try await Tarball.unpack(archive, into: path)
        } else {
            try Data(response.body).write(to: URL(fileURLWithPath: path))
        }
        let stored = try ArtifactStore(workspace: workspace).store(path)
        guard stored.digest == artifact.digest else {
            throw DriverError("agent \(name): artifact \(artifact.name) has digest \(stored.digest), the node said \(artifact.digest)")
        }
        return stored
    }

    // MARK: - Serving

    public func deploy(_ request: DeployRequest, launch: Launch) async throws -> DeploymentRecord {
        try await put(request, at: "/v1/deployments/\(request.deployment.name)", "deploy \(request.deployment.name)")
    }

    /// Ships the project and the artifact, sends the deployment request to
    /// `path`, and returns the record to keep for the node's answer.
    func put(_ request: DeployRequest, at path: String, _ what: String) async throws -> DeploymentRecord {
        let name = request.deployment.name
        let project = try await ship(request.revision)
        let artifact = try await ship(artifact: request.version)
        // A rollout waits for the health check on the node.
        var rollout = client
        rollout.timeout = (request.deployment.spec.healthCheck?.timeout?.duration ?? .seconds(30)) + .seconds(60)
        let answer: AgentAPI.DeploymentStatus = try await onAgent(what) {
            try await rollout.call(
                "PUT", path,
                json: AgentAPI.DeploymentRequest(
                    spec: request.deployment.spec, specDigest: request.specDigest, version: request.version,
                    artifact: artifact, project: project, registry: request.registry))
        }
        let node = LocalServing.of(answer.record)
        let detail = Detail(
            agent: endpoint, serveProcess: node.map { Digest.canonicalJSON($0.serve) } ?? "",
            forwarderProcess: node.map { Digest.canonicalJSON($0.forwarder) } ?? "", backendPort: node?.backendPort ?? 0)
        let record = DeploymentRecord(
            name: name, model: request.version.model, version: request.version.number, target: self.name,
            address: answer.record.address, specDigest: request.specDigest, commit: request.revision.commit.id.hex, updatedAt: Date(),
            detail: Digest.canonicalJSON(detail))
        return record
    }

    /// A version's artifact as a blob on the node: a file as itself, a
    /// directory as a tar.
    func ship(artifact version: VersionRecord) async throws -> AgentAPI.Artifact {
        let path = version.artifactPath
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DriverError("\(version.model)@v\(version.number): artifact \(path) is missing")
        }
        let name = (path as NSString).lastPathComponent
        guard isDirectory.boolValue else {
            try await upload(path, digest: version.artifactDigest)
            return AgentAPI.Artifact(digest: version.artifactDigest, blob: version.artifactDigest, name: name, directory: false)
        }
        let archive = workspace.path("agent-blobs", version.artifactDigest.replacingOccurrences(of: "sha256:", with: "") + ".tar")
        try FileManager.default.createDirectory(atPath: (archive as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let blob = try await packAndUpload(path, as: archive)
        return AgentAPI.Artifact(digest: version.artifactDigest, blob: blob, name: name, directory: true)
    }

    public func observe(_ record: DeploymentRecord, spec: DeploymentSpec?) async -> ObservedDeployment {
        func notServing(_ detail: String) -> ObservedDeployment {
            ObservedDeployment(name: record.name, serving: false, forwarding: false, healthy: nil, detail: detail)
        }
        do {
            let response = try await observer.send(
                "GET", "/v1/deployments/\(record.name)", headers: [("Accept", "application/json")],
                accept: [404])
            if response.status == 404 { return notServing("agent \(name) serves no deployment \(record.name)") }
            let status = try observer.decode(AgentAPI.DeploymentStatus.self, from: response)
            guard status.record.version == record.version else {
                return notServing("agent \(name) serves version \(status.record.version) of \(record.name), not \(record.version)")
            }
            return status.observed
        } catch {
            return notServing("agent \(name) (\(HTTPError.redact(endpoint))): \(error)")
        }
    }

    public func stop(_ record: DeploymentRecord) async throws {
        try await onAgent("stop \(record.name)") { _ = try await client.send("DELETE", "/v1/deployments/\(record.name)") }
    }

    /// A deploy interrupted mid-split: made the deployment on the node when
    /// this controller's record already names its version, else stopped.
    public func recover(_ launch: OpenLaunch) async -> Recovery {
        guard launch.kind == .deploy, let name = launch.current?.name ?? launch.object.split(separator: "/").last.map(String.init),
            let version = launch.key.split(separator: ":").last.flatMap({ Int($0) })
        else {
            return .cleanedUp("closed an interrupted \(launch.kind == .train ? "training" : "rollout") of \(launch.object)")
        }
        do {
            if launch.current?.version == version {
                _ = try await client.send("POST", "/v1/deployments/\(name)/next/promote", accept: [404])
                _ = try await client.send("POST", "/v1/deployments/\(name)/retire", accept: [404])
            } else {
                _ = try await client.send("DELETE", "/v1/deployments/\(name)/next", accept: [404])
            }
        } catch {
            return .stillRunning
        }
        return .cleanedUp("settled an interrupted \(launch.object) rollout on agent \(self.name)")
    }
}

/// A node's forwarder splits traffic as the local target's does; the
/// agent's `…/next` routes drive it.
extension AgentTarget: TrafficSplitting {
    public func startCanary(_ request: DeployRequest, launch: Launch) async throws -> DeploymentRecord {
        try launch.started(Digest.canonicalJSON(["agent": name, "next": request.deployment.name]))
        return try await put(
            request, at: "/v1/deployments/\(request.deployment.name)/next",
            "start v\(request.version.number) of \(request.deployment.name) next to the one serving")
    }

    public func split(_ canary: DeploymentRecord, stable: DeploymentRecord, percent: Int) async throws {
        try await onAgent("give v\(canary.version) of \(canary.name) \(percent)%") {
            _ = try await client.send(
                "PUT", "/v1/deployments/\(canary.name)/next/weight", body: Array(try JSONEncoder().encode(AgentAPI.Weight(percent: percent))),
                contentType: "application/json")
        }
    }

    public func readings(_ canary: DeploymentRecord) async -> BackendStats? {
        guard let response = try? await observer.send("GET", "/v1/deployments/\(canary.name)/next", headers: [("Accept", "application/json")]),
            let status = try? observer.decode(AgentAPI.NextStatus.self, from: response)
        else { return nil }
        return status.readings
    }

    public func observe(canary: DeploymentRecord, spec: DeploymentSpec?) async -> ObservedDeployment {
        do {
            let response = try await observer.send("GET", "/v1/deployments/\(canary.name)/next", headers: [("Accept", "application/json")])
            return try observer.decode(AgentAPI.NextStatus.self, from: response).observed
        } catch {
            return ObservedDeployment(
                name: canary.name, serving: false, forwarding: false, healthy: nil, detail: "agent \(name): v\(canary.version) of \(canary.name): \(error)")
        }
    }

    /// Read by the node from its own servers of the record's version (the
    /// controller cannot reach their ports).
    public func modelMetrics(_ record: DeploymentRecord, path: String) async throws -> [String: Double] {
        try await onAgent("read the metrics of v\(record.version) of \(record.name)") {
            try await client.get("/v1/deployments/\(record.name)/metrics", query: [("version", String(record.version)), ("path", path)])
        }
    }

    public func commit(_ canary: DeploymentRecord) async throws {
        try await onAgent("make v\(canary.version) of \(canary.name) the deployment") {
            _ = try await client.send("POST", "/v1/deployments/\(canary.name)/next/promote?retire=later")
        }
    }

    public func abandon(_ canary: DeploymentRecord, stable: DeploymentRecord) async {
        _ = try? await client.send("DELETE", "/v1/deployments/\(canary.name)/next", accept: [404])
    }

    public func finish(_ canary: DeploymentRecord, replacing stable: DeploymentRecord) async {
        _ = try? await client.send("POST", "/v1/deployments/\(canary.name)/next/promote", accept: [404])
        _ = try? await client.send("POST", "/v1/deployments/\(canary.name)/retire", accept: [404])
    }

    public func traffic(_ record: DeploymentRecord) async -> [TrafficShare]? {
        guard let response = try? await observer.send("GET", "/v1/deployments/\(record.name)/traffic", headers: [("Accept", "application/json")]),
            let shares = try? observer.decode([TrafficShare].self, from: response)
        else { return nil }
        return shares
    }
}
