import Foundation
import Manifests
import Processes

/// The Python environment a model's steps run in, as `triggers.runtime`
/// compares it at plan time: the interpreter's version and a SHA-256 of the
/// distributions on its `sys.path` (their `.dist-info`/`.egg-info`
/// directory names, which carry name and version), plus the lockfile's
/// SHA-256 when `runtime.lockfile` names one. Installing, removing or
/// upgrading a package, or a new Python, changes it.
///
/// Asking costs one short Python process (it lists directories; it imports
/// nothing), so only models that set `triggers.runtime` ask.
public enum RuntimeEnvironment {
    /// What a step sees of Gantry's own environment: the variables that
    /// find programs and Python environments, and nothing else.
    public static func base() -> [String: String] {
        let keep = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "PYENV_ROOT", "PYENV_VERSION", "VIRTUAL_ENV"]
        let env = ProcessInfo.processInfo.environment
        var out: [String: String] = [:]
        for k in keep { if let v = env[k] { out[k] = v } }
        if out["PATH"] == nil { out["PATH"] = "/usr/local/bin:/usr/bin:/bin" }
        // Python writes its output as it goes, not in blocks at exit: step
        // logs are followed live (`apply`), servers' logs read when they fail.
        out["PYTHONUNBUFFERED"] = env["PYTHONUNBUFFERED"] ?? "1"
        return out
    }

    /// The pipeline's first step that runs Python (a command whose program
    /// is a `python…`, or a notebook's interpreter), with the environment
    /// it runs in: the base one and the step's own literal variables (one
    /// that names a secret or a placeholder is left out).
    public static func pythonStep(_ pipeline: PipelineSpec) -> (program: String, environment: [String: String])? {
        guard let (program, step) = pipeline.pythonStep else { return nil }
        var environment = base()
        for (name, value) in step.env ?? [:] {
            if case .literal(let text) = value, !text.contains("${") { environment[name] = text }
        }
        return (program, environment)
    }

    static let script = """
        import hashlib, os, platform, sys
        names = sorted({e for p in sys.path if p and os.path.isdir(p) for e in os.listdir(p) if e.endswith((".dist-info", ".egg-info"))})
        print(platform.python_version(), hashlib.sha256("\\n".join(names).encode()).hexdigest())
        """

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// `python 3.11.7 packages sha256:…[ lockfile sha256:…]`.
    public static func fingerprint(_ pipeline: PipelineSpec, lockfile: [UInt8]?) async throws -> String {
        guard let (program, environment) = pythonStep(pipeline) else {
            throw Failure(description: "no step of pipeline runs Python, whose environment triggers.runtime compares")
        }
        let log = NSTemporaryDirectory() + "gantry-environment-\(getpid())-\(UUID().uuidString.prefix(8)).out"
        defer { unlink(log) }
        let result: RunResult
        do {
            result = try await run(ProcessSpec(argv: [program, "-c", script], environment: environment, logPath: log), timeout: .seconds(30))
        } catch {
            throw Failure(description: "\(program) could not be run to read its environment: \(error)")
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let fields = output.split(whereSeparator: \.isWhitespace)
        guard result.status.succeeded, fields.count == 2 else {
            throw Failure(description: "\(program) did not report its environment: \(output.suffix(300))")
        }
        var text = "python \(fields[0]) packages sha256:\(fields[1])"
        if let lockfile { text += " lockfile sha256:" + Digest.sha256(Data(lockfile)) }
        return text
    }

    /// An environment as a reason shows it: each SHA-256 cut to 12 digits.
    public static func short(_ fingerprint: String) -> String {
        fingerprint.split(separator: " ").map { $0.hasPrefix("sha256:") ? String($0.prefix(19)) : String($0) }.joined(separator: " ")
    }
}
