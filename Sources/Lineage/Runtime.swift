import Foundation

/// This build of Gantry.
public enum GantryVersion {
    public static let current = "0.1.0"
}

/// What a training ran on, captured when it ran (never typed in): recorded
/// with the version's lineage but not part of its digest, so capturing it
/// changes no version's identity and retrains nothing.
public struct CapturedRuntime: Codable, Sendable, Hashable {
    /// The interpreter the steps ran (`/usr/bin/python3`) and its version.
    public var interpreter: String?
    public var interpreterVersion: String?
    /// SHA-256 of the interpreter's installed packages as `name==version`
    /// lines, sorted; the list is kept at `packagesFile`.
    public var packagesDigest: String?
    public var packagesFile: String?
    public var packages: Int?
    /// `runtime.lockfile` of the Model: its path in the project and the
    /// SHA-256 of its bytes at the commit.
    public var lockfile: String?
    public var lockfileDigest: String?
    /// PRETTY_NAME of /etc/os-release.
    public var os: String?
    public var kernel: String?
    public var cpu: String?
    /// `nvidia-smi -L`'s lines, where it exists.
    public var gpus: [String]?
    public var gantry: String
    /// The names (never the values) of the environment variables the steps saw.
    public var environment: [String]

    public init(gantry: String = GantryVersion.current, environment: [String] = []) {
        self.gantry = gantry
        self.environment = environment
    }

    /// What differs from `other`, in words: `python 3.11.2 -> 3.12.1`.
    public func changes(since other: CapturedRuntime) -> [String] {
        var out: [String] = []
        func compare(_ label: String, _ a: String?, _ b: String?) {
            if a != b { out.append("\(label) \(b ?? "none") -> \(a ?? "none")") }
        }
        compare("interpreter", interpreter, other.interpreter)
        compare("python", interpreterVersion, other.interpreterVersion)
        if packagesDigest != other.packagesDigest {
            out.append("packages \(other.packagesDigest.map { String($0.prefix(19)) } ?? "none") -> \(packagesDigest.map { String($0.prefix(19)) } ?? "none")")
        }
        compare("lockfile", lockfileDigest.map { String($0.prefix(19)) }, other.lockfileDigest.map { String($0.prefix(19)) })
        compare("os", os, other.os)
        compare("kernel", kernel, other.kernel)
        compare("cpu", cpu, other.cpu)
        if gpus != other.gpus { out.append("gpus \(other.gpus?.joined(separator: "; ") ?? "none") -> \(gpus?.joined(separator: "; ") ?? "none")") }
        compare("gantry", gantry, other.gantry)
        let (added, removed) = (Set(environment).subtracting(other.environment), Set(other.environment).subtracting(environment))
        if !added.isEmpty || !removed.isEmpty {
            out.append(
                "environment" + (added.isEmpty ? "" : " +" + added.sorted().joined(separator: " +"))
                    + (removed.isEmpty ? "" : " -" + removed.sorted().joined(separator: " -")))
        }
        return out
    }
}
