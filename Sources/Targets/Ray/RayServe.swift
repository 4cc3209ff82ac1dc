import Foundation
import HTTP
import Lineage
import Manifests
import State

/// What Gantry keeps in `DeploymentRecord.detail` for a Serve application.
struct RayServeDetail: Codable, Sendable {
    var application: String
    var package: String
    var artifact: String
}

extension RayTarget {
    static let applicationsPath = "/api/serve/applications/"

    public func deploy(_ request: DeployRequest, launch: Launch) async throws -> DeploymentRecord {
        let spec = request.deployment.spec
        let name = request.deployment.name
        let version = request.version
        guard let importPath = spec.serve.importPath, !importPath.isEmpty else {
            throw DriverError("deployment \(name) needs spec.serve.importPath (module:attribute of a Serve application builder) on the ray target")
        }
        var environment: [String: String] = [:]
        for (key, value) in spec.serve.env ?? [:] {
            guard case .literal(let text) = value else {
                throw DriverError(
                    "deployment \(name): serve.env \(key) is a secret; the ray target does not write secrets into a Serve config, which the dashboard shows to anyone"
                )
            }
            environment[key] = text
        }
        let storage = try storage()
        // The replicas read the artifact from the shared storage, by digest.
        let artifact = try ArtifactStore(workspace: Workspace(root: storage)).store(version.artifactPath).path

        let project = try Checkouts(workspace: workspace).project(request.revision)
        var zip = ZipArchive()
        try zip.addDirectory(spec.serve.workingDir.map { (project as NSString).appendingPathComponent($0) } ?? project)
        let package = try await upload(zip)

        var runtimeEnvironment: [String: Any] = ["working_dir": package]
        if !environment.isEmpty { runtimeEnvironment["env_vars"] = environment }
        let application: [String: Any] = [
            "name": name,
            "route_prefix": "/\(name)",
            "import_path": importPath,
            "runtime_env": runtimeEnvironment,
            "args": ["artifact": artifact, "version": version.number, "model": version.model] as [String: Any],
        ]
        try await replaceApplication(name, with: application)
        let address = try await waitRunning(name, version: version.number, timeout: spec.healthCheck?.timeout?.duration ?? .seconds(180))

        let record = DeploymentRecord(
            name: name, model: version.model, version: version.number, target: spec.targets.first?.target ?? self.name,
            address: address ?? "/\(name)", specDigest: request.specDigest,
            commit: request.revision.commit.id.hex, updatedAt: Date(),
            detail: Digest.canonicalJSON(RayServeDetail(application: name, package: package, artifact: artifact)))
        return record
    }

    public func observe(_ record: DeploymentRecord, spec: DeploymentSpec?) async -> ObservedDeployment {
        let application = Self.detail(record)?.application ?? record.name
        let instance: ServeInstance
        do {
            instance = try await ServeInstance.read(observer)
        } catch {
            return ObservedDeployment(
                name: record.name, serving: false, forwarding: false, healthy: nil,
                detail: "cannot read Serve applications from \(observer.baseURL): \(error)")
        }
        guard let app = instance.application(application) else {
            return ObservedDeployment(
                name: record.name, serving: false, forwarding: false, healthy: nil,
                detail: "Serve application \(application) is not on the cluster")
        }
        let running = app.status == "RUNNING"
        let serves = app.version
        let forwarding = serves == record.version && app.routePrefix == "/\(application)"
        let detail: String
        if !running {
            detail = "Serve application \(application) is \(app.status)" + (app.message.isEmpty ? "" : ": \(app.message)")
        } else if serves != record.version {
            detail = "Serve application \(application) serves version \(serves.map(String.init) ?? "none"), not \(record.version)"
        } else if !forwarding {
            detail = "Serve application \(application) is routed at \(app.routePrefix ?? "nothing"), not /\(application)"
        } else {
            detail = "Serve application \(application) is RUNNING version \(record.version)"
        }
        return ObservedDeployment(name: record.name, serving: true, forwarding: forwarding, healthy: running, detail: detail)
    }

    public func stop(_ record: DeploymentRecord) async throws {
        let application = Self.detail(record)?.application ?? record.name
        let instance = try await ServeInstance.read(dashboard)
        guard instance.application(application) != nil else { return }
        try await replaceApplication(application, with: nil)
    }

    static func detail(_ record: DeploymentRecord) -> RayServeDetail? {
        try? JSONDecoder().decode(RayServeDetail.self, from: Data(record.detail.utf8))
    }

    /// Serve's PUT replaces every application, so the current config is read
    /// and only `name`'s entry changes (or goes, for nil); every other
    /// team's application is sent back exactly as Serve reported it.
    func replaceApplication(_ name: String, with application: [String: Any]?) async throws {
        let instance = try await ServeInstance.read(dashboard)
        var applications: [Any] = []
        for (other, config) in instance.applications where other != name {
            guard let config = config["deployed_app_config"], !(config is NSNull) else {
                throw DriverError(
                    "Serve application \(other) on \(dashboard.baseURL) was not deployed from a config (\(config["source"] ?? "unknown source")); replacing the cluster's config would remove it, so Gantry leaves the cluster alone"
                )
            }
            applications.append(config)
        }
        if let application { applications.append(application) }
        var body: [String: Any] = ["applications": applications]
        for key in ["proxy_location", "http_options", "grpc_options", "logging_config", "target_capacity"] {
            if let value = instance.raw[key] { body[key] = value }
        }
        let bytes = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        try await dashboard.send("PUT", Self.applicationsPath, body: Array(bytes), contentType: "application/json")
    }

    /// Waits until `name` is RUNNING with `version`'s config; a failed
    /// deploy throws with Serve's message. Returns the application's URL on
    /// the Serve proxy, when Serve reports where it listens.
    func waitRunning(_ name: String, version: Int, timeout: Duration) async throws -> String? {
        let deadline = ContinuousClock.now + timeout
        var last = "not on the cluster yet"
        while ContinuousClock.now < deadline {
            let instance = try await ServeInstance.read(dashboard)
            if let app = instance.application(name), app.version == version {
                switch app.status {
                case "RUNNING": return instance.address(route: "/\(name)")
                case "DEPLOY_FAILED", "UNHEALTHY":
                    throw DriverError("Serve application \(name) is \(app.status): \(app.message)")
                default: last = app.status + (app.message.isEmpty ? "" : ": \(app.message)")
                }
            }
            try await Task.sleep(for: pollInterval)
        }
        throw DriverError("Serve application \(name) was not RUNNING within \(TimeSpan(seconds: Double(timeout.components.seconds))): \(last)")
    }
}

/// `GET /api/serve/applications/`, kept as JSON so other applications'
/// configs go back to Serve untouched.
struct ServeInstance {
    struct Application {
        var status: String
        var message: String
        var routePrefix: String?
        /// `args.version` of the deployed config.
        var version: Int?
    }

    var raw: [String: Any]
    var applications: [String: [String: Any]]

    static func read(_ client: RESTClient) async throws -> ServeInstance {
        let response = try await client.send("GET", RayTarget.applicationsPath, headers: [("Accept", "application/json")])
        guard let raw = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
            throw DriverError(
                "GET \(client.baseURL)\(RayTarget.applicationsPath) answered with something other than a JSON object: \(client.excerpt(response.body))")
        }
        return ServeInstance(raw: raw, applications: raw["applications"] as? [String: [String: Any]] ?? [:])
    }

    func application(_ name: String) -> Application? {
        guard let app = applications[name] else { return nil }
        let config = app["deployed_app_config"] as? [String: Any]
        let args = config?["args"] as? [String: Any]
        return Application(
            status: app["status"] as? String ?? "UNKNOWN", message: app["message"] as? String ?? "",
            routePrefix: app["route_prefix"] as? String, version: (args?["version"] as? NSNumber)?.intValue)
    }

    /// The Serve proxy's URL for `route`, when Serve reports where it listens.
    func address(route: String) -> String? {
        guard let http = raw["http_options"] as? [String: Any], let port = (http["port"] as? NSNumber)?.intValue else { return nil }
        var host = http["host"] as? String ?? "127.0.0.1"
        if host == "0.0.0.0" || host.isEmpty { host = "127.0.0.1" }
        return "http://\(host):\(port)\(route)"
    }
}
