import Foundation
import Manifests

/// What the runner shipped in every training package executes: the
/// pipeline's steps in dependency order, each an argv array run with
/// `subprocess` (no shell, so no quoting), passed to the job as JSON in the
/// `GANTRY_RAY_JOB` environment variable.
struct RunnerJob: Codable, Sendable {
    struct Step: Codable, Sendable {
        var name: String
        /// Each argument as parts joined on the worker.
        var argv: [[Part]]
        /// Relative to the unpacked project.
        var workingDir: String
        var env: [String: Value]
        /// Absolute, in the target's storage.
        var outputs: String
        /// Files the step must leave in `outputs`.
        var expect: [String]
        var timeoutSeconds: Double?
    }

    /// Text, or a path inside the unpacked project (known only on the
    /// worker, where the package is unpacked).
    struct Part: Codable, Sendable, Equatable {
        var text: String?
        var project: String?
    }

    /// A literal, or a secret the worker reads from its own environment or
    /// file system: secrets stay references all the way to the cluster.
    struct Value: Codable, Sendable {
        var value: String?
        var env: String?
        var file: String?
    }

    var steps: [Step]
    /// Where the runner writes what the worker ran on (`runtime.json`),
    /// once every step succeeded.
    var capture: String?

    /// `text` with its placeholders replaced by `value`'s parts; unknown
    /// placeholders stay as written, as on the local target.
    static func parts(_ text: String, _ value: (Placeholder) -> Part?) -> [Part] {
        var out: [Part] = []
        func append(_ part: Part) {
            if let text = part.text, let last = out.last?.text {
                out[out.count - 1].text = last + text
            } else if part.text?.isEmpty != true {
                out.append(part)
            }
        }
        var rest = Substring(text)
        while let open = rest.range(of: "${"), let close = rest[open.upperBound...].firstIndex(of: "}") {
            append(Part(text: String(rest[..<open.lowerBound])))
            let token = String(rest[open.lowerBound...close])
            append(Placeholder.all(in: token).first.flatMap(value) ?? Part(text: token))
            rest = rest[rest.index(after: close)...]
        }
        append(Part(text: String(rest)))
        return out.isEmpty ? [Part(text: "")] : out
    }

    static let scriptName = "_gantry_ray_runner.py"

    static let script = #"""
        """Gantry's step runner for Ray jobs: runs the steps in $GANTRY_RAY_JOB in
        order, each as an argv array (no shell), from the unpacked project."""
        import json, os, subprocess, sys

        root = os.getcwd()
        job = json.loads(os.environ.pop("GANTRY_RAY_JOB"))

        def arg(parts):
            return "".join(p["text"] if p.get("text") is not None else os.path.join(root, p["project"]) for p in parts)

        def value(name, v):
            if v.get("value") is not None:
                return v["value"]
            if v.get("env") is not None:
                if v["env"] not in os.environ:
                    sys.exit(f"gantry: {name}: environment variable {v['env']} is not set on the worker")
                return os.environ[v["env"]]
            try:
                return open(v["file"]).read().strip()
            except OSError as e:
                sys.exit(f"gantry: {name}: cannot read secret file {v['file']}: {e.strerror}")

        for step in job["steps"]:
            name = step["name"]
            os.makedirs(step["outputs"], exist_ok=True)
            env = dict(os.environ)
            env.update({k: value(k, v) for k, v in step["env"].items()})
            argv = [arg(a) for a in step["argv"]]
            print(f"gantry: step {name}: {json.dumps(argv)}", flush=True)
            try:
                code = subprocess.run(argv, cwd=os.path.join(root, step["workingDir"]), env=env,
                                      timeout=step.get("timeoutSeconds")).returncode
            except subprocess.TimeoutExpired:
                sys.exit(f"gantry: step {name} timed out after {step['timeoutSeconds']}s")
            except OSError as e:
                sys.exit(f"gantry: step {name} cannot start {argv[0]}: {e.strerror}")
            if code != 0:
                sys.exit(f"gantry: step {name} exited with status {code}")
            missing = [f for f in step["expect"] if not os.path.exists(os.path.join(step["outputs"], f))]
            if missing:
                sys.exit(f"gantry: step {name} did not write {', '.join(missing)} to its outputs")
            print(f"gantry: step {name} succeeded", flush=True)

        # What the steps ran on, as the local target records it: the names
        # of the environment variables, never their values.
        if job.get("capture"):
            import importlib.metadata, platform, shutil
            def field(path, key, sep):
                try:
                    for line in open(path):
                        k, _, v = line.partition(sep)
                        if k.strip() == key:
                            return v.strip().strip('"')
                except OSError:
                    pass
            gpus = None
            if shutil.which("nvidia-smi"):
                listed = subprocess.run(["nvidia-smi", "-L"], stdout=subprocess.PIPE, text=True)
                gpus = [l.strip() for l in listed.stdout.splitlines() if l.strip()] if listed.returncode == 0 else None
            names = {env_name for step in job["steps"] for env_name in step["env"]} | set(os.environ)
            report = {
                "interpreter": sys.executable, "interpreterVersion": platform.python_version(),
                "packages": "\n".join(sorted({"%s==%s" % (d.metadata["Name"], d.version)
                                              for d in importlib.metadata.distributions() if d.metadata["Name"]})),
                "os": field("/etc/os-release", "PRETTY_NAME", "="), "kernel": platform.release(),
                "cpu": field("/proc/cpuinfo", "model name", ":"), "gpus": gpus, "environment": sorted(names),
            }
            os.makedirs(os.path.dirname(job["capture"]), exist_ok=True)
            with open(job["capture"], "w") as f:
                json.dump(report, f)
        """#
}
