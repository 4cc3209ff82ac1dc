import Foundation
import HTTP
import Manifests
import State

/// A Ray cluster driven over its dashboard's REST APIs: training is a Ray
/// job, serving a Ray Serve application. Gantry schedules nothing itself.
///
///     kind: Target
///     metadata: { name: ray }
///     spec:
///       type: ray
///       endpoint: http://ray-head:8265
///       storage: /mnt/shared/gantry
///
/// The project's code reaches the cluster as a content-addressed ZIP
/// uploaded through the dashboard's package API (`gcs://gantry-<sha>.zip`).
/// Step outputs go to `storage`, a file system the controller and every
/// worker see.
public struct RayTarget: TargetDriver {
    let name: String
    let spec: TargetSpec
    let workspace: Workspace
    /// Calls that change or wait for the cluster.
    let dashboard: RESTClient
    /// Calls made while observing: short, so a plan never waits long on an
    /// unreachable cluster.
    let observer: RESTClient
    /// How often a job or an application is polled.
    var pollInterval: Duration = .milliseconds(500)

    /// Reads the optional `credentials.token` (sent as a bearer token, for a
    /// cluster with token authentication).
    public init(_ context: DriverContext) throws {
        guard let endpoint = context.spec.endpoint, !endpoint.isEmpty else {
            throw DriverError("target \(context.name) (ray) needs spec.endpoint, the Ray dashboard's URL such as http://127.0.0.1:8265")
        }
        let auth = try context.credential("token").map { HTTPAuth.bearer($0) } ?? .none
        name = context.name
        spec = context.spec
        workspace = context.workspace
        dashboard = RESTClient(baseURL: endpoint, auth: auth, timeout: .seconds(60))
        observer = RESTClient(
            baseURL: endpoint, auth: auth, retry: RetryPolicy(attempts: 2, initialDelay: .milliseconds(100)),
            timeout: .seconds(3), connectTimeout: .seconds(2))
    }

    /// The shared directory step outputs and served artifacts go to.
    func storage() throws -> String {
        guard let storage = spec.storage, !storage.isEmpty else {
            throw DriverError("target \(name) (ray) needs spec.storage, a directory the controller and every Ray worker see")
        }
        // Workers resolve a relative path against their own directory.
        guard storage.hasPrefix("/") else {
            throw DriverError("target \(name) (ray): spec.storage must be an absolute path, found \"\(storage)\"")
        }
        return storage
    }
}
