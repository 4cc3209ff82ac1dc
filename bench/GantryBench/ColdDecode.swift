import Foundation
import Manifests

/// Scenario 3: a cold decode and validation of every manifest, each
/// contestant a fresh process reading the same files from the same
/// directory and timing its own work (process start-up excluded):
/// - Gantry: `DirectoryLoader.load`, as `gantry validate` does: read, parse,
///   decode into typed objects, validate each, check references;
/// - PyYAML with libyaml's C loader (`yaml.CSafeLoader`): read and parse into
///   Python objects, no validation;
/// - the floor: a C loop over libyaml's events, building nothing, on one
///   core. Gantry decodes on every core, so it is compared by wall time and
///   by CPU time (its threads' sum against the floor's).
enum ColdDecode {
    static let gantry = "Gantry: decode + validate"
    static let pyyaml = "PyYAML CSafeLoader"
    static let floor = "libyaml events (C)"

    /// The contestant Gantry runs in a process of its own: prints seconds,
    /// CPU seconds, objects and problems.
    static func decodeOnce(directory: String) throws {
        let cpu0 = Measure.cpu()
        let t0 = Measure.now()
        let (set, diagnostics, files) = try DirectoryLoader.load(directory)
        let t = Measure.now() - t0
        let cpu = Measure.cpu() - cpu0
        print(String(format: "%.6f %.6f %d %d %d", t, cpu, set.count, diagnostics.count, files))
        for d in diagnostics.prefix(5) { note("\(d)") }
    }

    static func run(directory: String, rounds: Int, floorProgram: String, python: String, script: String, out: String) throws {
        let me = CommandLine.arguments[0]
        var counts: [String: String] = [:]
        var gantryCPU = Series("Gantry: CPU time")
        var floorCPU = Series("libyaml events (C): CPU time")
        func contestant(_ name: String) throws -> Double {
            let argv: [String]
            switch name {
            case gantry: argv = [me, "decode", directory]
            case pyyaml: argv = [python, script, directory]
            default: argv = [floorProgram, directory]
            }
            let fields = try Child.check(argv).split(separator: " ").map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }
            guard let seconds = Double(fields.first ?? "") else { throw BenchFailure("\(name) printed \(fields)") }
            switch name {
            case gantry:
                guard fields.count == 5, fields[3] == "0" else { throw BenchFailure("Gantry found problems: \(fields)") }
                gantryCPU.samples.append(Double(fields[1]) ?? .nan)
                counts[name] = "\(fields[2]) objects in \(fields[4]) files, \(fields[3]) problems"
            case pyyaml: counts[name] = "\(fields[1]) documents in \(fields[2]) files"
            default:
                guard fields.count == 5 else { throw BenchFailure("the floor printed \(fields)") }
                floorCPU.samples.append(Double(fields[4]) ?? .nan)
                counts[name] = "\(fields[1]) documents, \(fields[2]) events in \(fields[3]) files"
            }
            return seconds
        }
        let names = [floor, pyyaml, gantry]
        note("scenario 3: warming up")
        _ = try alternate(rounds: 1, names, { _ in }, contestant)
        note("scenario 3: \(rounds) rounds")
        gantryCPU.samples = []
        floorCPU.samples = []
        var result = ScenarioResult(id: "cold")
        result.series = try alternate(rounds: rounds, names, { _ in }, contestant) + [gantryCPU, floorCPU]
        result.facts = counts
        var bytes = 0
        for path in try DirectoryLoader.manifestFiles(under: directory) {
            bytes += (try? FileManager.default.attributesOfItem(atPath: directory + "/" + path)[.size] as? Int) ?? 0
        }
        result.facts["manifest bytes"] = "\(bytes)"
        try result.write(to: out)
    }
}
