import Foundation
import HTTP
import Lineage

extension RayTarget {
    /// Uploads `zip` through the dashboard's package API unless the cluster
    /// has it, and returns its `gcs://` URI for `runtime_env.working_dir`.
    /// The name is the digest of the bytes, as Ray's own job SDK names
    /// packages, so the same code is uploaded once. The GET that checks for
    /// it also pins it for a while, so it outlives the gap until a job or an
    /// application references it.
    func upload(_ zip: ZipArchive) async throws -> String {
        let bytes = try zip.bytes()
        let name = "gantry-" + Digest.sha256(bytes).prefix(32) + ".zip"
        let path = "/api/packages/gcs/\(name)"
        let check = try await dashboard.send("GET", path, accept: [404])
        if check.status == 404 {
            try await dashboard.send("PUT", path, body: bytes, contentType: "application/zip")
        }
        return "gcs://\(name)"
    }
}
