import Foundation
import Lineage

/// The names Gantry gives SageMaker resources. They are derived from what
/// the resource is for, never random, so a call repeated after a crash or a
/// retry finds what the first one made instead of making a second.
/// SageMaker allows 63 characters of letters, digits and '-'; Gantry's own
/// names are DNS labels already, so only the length needs care.
///
///     SageMakerNames.trainingJob(model: "churn", digest: "sha256:9f2c…")   // "gantry-churn-9f2c4e1a7b3d"
enum SageMakerNames {
    static let limit = 63

    /// `gantry-<model>-<first 12 hex of the lineage digest>`; a later
    /// attempt after a failed or stopped job adds `-r<attempt>`.
    static func trainingJob(model: String, digest: String, attempt: Int = 1) -> String {
        let suffix = "-" + hex(digest).prefix(12) + (attempt > 1 ? "-r\(attempt)" : "")
        return "gantry-" + fit(model, leaving: "gantry-".count + suffix.count) + suffix
    }

    /// `gantry-<deployment>-v<N>-<8 hex>`, the hex over everything the model
    /// and its endpoint config are made from, so a change to any of them
    /// makes a new pair rather than mutating the one an endpoint uses.
    static func modelAndConfig(deployment: String, version: Int, inputs: String) -> String {
        let suffix = "-v\(version)-" + Digest.sha256(inputs).prefix(8)
        return "gantry-" + fit(deployment, leaving: "gantry-".count + suffix.count) + suffix
    }

    /// The endpoint carries the Deployment's own name: the one people call.
    static func endpoint(deployment: String) -> String { String(deployment.prefix(limit)) }

    static func hex(_ digest: String) -> String {
        digest.split(separator: ":").last.map(String.init) ?? digest
    }

    /// `name` cut to fit beside `used` other characters.
    static func fit(_ name: String, leaving used: Int) -> String {
        String(name.prefix(max(1, limit - used)))
    }
}
