import Foundation
import Lineage
import Manifests
import Processes

#if canImport(Glibc)
    import Glibc
#endif

/// Captures what a training on this machine ran on: the steps' Python
/// interpreter, its version and installed packages (the frozen list kept
/// under `<state>/runtime/`), the Model's lockfile, the OS, kernel, CPU and
/// GPUs, Gantry's version and the names of the environment variables the
/// steps saw. Each probe that fails leaves its field empty; capturing never
/// fails a training.
enum RuntimeCapture {
    static let packagesScript = """
        import importlib.metadata as m
        print("\\n".join(sorted({"%s==%s" % (d.metadata["Name"], d.version) for d in m.distributions() if d.metadata["Name"]})))
        """

    static func capture(_ request: TrainingRequest, workspace: Workspace) async -> CapturedRuntime {
        let environment = Workspace.baseEnvironment()
        var names = Set(environment.keys)
        for step in request.pipeline.spec.steps { names.formUnion(step.env?.keys ?? [:].keys) }
        var runtime = CapturedRuntime(environment: names.sorted())
        if let python = interpreter(request.pipeline.spec, path: environment["PATH"] ?? "") {
            runtime.interpreter = python
            runtime.interpreterVersion = await output([python, "-c", "import platform; print(platform.python_version())"], environment)?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            if let list = await output([python, "-c", packagesScript], environment) { keep(packages: list, in: &runtime, workspace: workspace) }
        }
        if let lockfile = request.model.spec.runtime?["lockfile"] {
            runtime.lockfile = lockfile
            if let bytes = try? request.revision.file(lockfile) { runtime.lockfileDigest = "sha256:" + Digest.sha256(Data(bytes)) }
        }
        runtime.os = field("PRETTY_NAME", in: (try? String(contentsOfFile: "/etc/os-release", encoding: .utf8)) ?? "", separator: "=")
        var name = utsname()
        if uname(&name) == 0 {
            runtime.kernel = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        runtime.cpu = field("model name", in: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "", separator: ":")
        if let smi = which("nvidia-smi", path: environment["PATH"] ?? ""), let list = await output([smi, "-L"], environment) {
            runtime.gpus = list.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        return runtime
    }

    /// Records the `name==version` lines `list` in `runtime`: their digest
    /// and count, the list itself kept under `<state>/runtime/`.
    static func keep(packages list: String, in runtime: inout CapturedRuntime, workspace: Workspace) {
        let digest = "sha256:" + Digest.sha256(list)
        let file = (workspace.root as NSString).appendingPathComponent("runtime/packages-\(digest.dropFirst(7).prefix(16)).txt")
        try? FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if (try? list.write(toFile: file, atomically: true, encoding: .utf8)) != nil { runtime.packagesFile = file }
        runtime.packagesDigest = digest
        runtime.packages = list.split(separator: "\n").count
    }

    /// What a Ray job's runner reported of the worker it ran on
    /// (`runtime.json` in its run directory); nil when it wrote none.
    static func reported(_ path: String, workspace: Workspace) -> CapturedRuntime? {
        struct Reported: Decodable {
            var interpreter: String?
            var interpreterVersion: String?
            var packages: String?
            var os: String?
            var kernel: String?
            var cpu: String?
            var gpus: [String]?
            var environment: [String]?
        }
        guard let data = FileManager.default.contents(atPath: path), let r = try? JSONDecoder().decode(Reported.self, from: data) else { return nil }
        var runtime = CapturedRuntime(environment: (r.environment ?? []).sorted())
        runtime.interpreter = r.interpreter
        runtime.interpreterVersion = r.interpreterVersion
        if let list = r.packages { keep(packages: list, in: &runtime, workspace: workspace) }
        runtime.os = r.os
        runtime.kernel = r.kernel
        runtime.cpu = r.cpu
        runtime.gpus = r.gpus
        return runtime
    }

    /// The Python the steps run: the first step command or notebook
    /// interpreter whose program is a python, found on `path`.
    static func interpreter(_ pipeline: PipelineSpec, path: String) -> String? {
        guard let (program, _) = pipeline.pythonStep else { return nil }
        if program.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        return which(program, path: path)
    }

    static func which(_ program: String, path: String) -> String? {
        path.split(separator: ":").map { "\($0)/\(program)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// `KEY<separator>value` of the first line that has it, unquoted.
    static func field(_ key: String, in text: String, separator: Character) -> String? {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: separator, maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == key else { continue }
            return parts[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return nil
    }

    /// A probe's standard output, or nil when it fails or takes over 30 s.
    static func output(_ argv: [String], _ environment: [String: String]) async -> String? {
        let log = NSTemporaryDirectory() + "gantry-runtime-\(getpid())-\(UUID().uuidString.prefix(8)).out"
        defer { unlink(log) }
        guard let result = try? await run(ProcessSpec(argv: argv, environment: environment, logPath: log), timeout: .seconds(30)),
            result.status.succeeded
        else { return nil }
        return try? String(contentsOfFile: log, encoding: .utf8)
    }
}
