import Foundation

// The benchmark driver. `bench/run` calls each step in a process of its
// own, so that one scenario's memory and caches never colour another's.
//
//   gantry-bench generate --dir D [--no-deployments]
//   gantry-bench change --work W --repo D --rounds N --out R
//   gantry-bench noop --work W --repo D --rounds N --out R
//   gantry-bench noop-deployments --work W --repo D --rounds N --out R
//   gantry-bench cold --dir D --rounds N --floor F --python P --script S --out R
//   gantry-bench decode D
//   gantry-bench memory --work W --repo D --reconciles N --out R
//   gantry-bench webhook --work W --repo D --pushes N --out R
//   gantry-bench register --url U --state S [--seed S2]
//   gantry-bench profile-plan --url U --state S [--plans N] [--stages-every K]
//   gantry-bench profile-change --work W --repo D [--rounds N]
//   gantry-bench report --results R --environment E --command C --to FILE

/// `--name value` pairs and bare flags after the verb.
struct Arguments {
    var values: [String: String] = [:]
    var flags: Set<String> = []
    var positional: [String] = []

    init(_ argv: ArraySlice<String>) {
        var rest = argv
        while let a = rest.popFirst() {
            if a.hasPrefix("--") {
                let key = String(a.dropFirst(2))
                if let next = rest.first, !next.hasPrefix("--") {
                    values[key] = next
                    rest = rest.dropFirst()
                } else {
                    flags.insert(key)
                }
            } else {
                positional.append(a)
            }
        }
    }

    func string(_ key: String) throws -> String {
        guard let v = values[key] else { throw BenchFailure("missing --\(key)") }
        return v
    }

    func int(_ key: String, default value: Int) -> Int { values[key].flatMap(Int.init) ?? value }
}

let argv = CommandLine.arguments
guard argv.count >= 2 else {
    FileHandle.standardError.write(Data("usage: gantry-bench VERB [options]; bench/run runs every scenario\n".utf8))
    exit(2)
}
let args = Arguments(argv.dropFirst(2))
do {
    switch argv[1] {
    case "generate":
        var shape = RepositoryShape()
        shape.deployments = !args.flags.contains("no-deployments")
        let dir = try args.string("dir")
        let bytes = try Generator(shape: shape, directory: dir).generate()
        note("generated \(dir): \(shape.models) models\(shape.deployments ? " and deployments" : "") in \(shape.modelFiles) files, \(bytes) bytes of manifests")
    case "change":
        try await ChangeToPlan.run(
            work: try args.string("work"), repository: try args.string("repo"),
            rounds: args.int("rounds", default: 15), out: try args.string("out"))
    case "noop":
        try await NoOp.models(
            work: try args.string("work"), repository: try args.string("repo"),
            rounds: args.int("rounds", default: 20), out: try args.string("out"))
    case "noop-deployments":
        try await NoOp.deployments(
            work: try args.string("work"), repository: try args.string("repo"),
            rounds: args.int("rounds", default: 3), out: try args.string("out"))
    case "cold":
        try ColdDecode.run(
            directory: try args.string("dir"), rounds: args.int("rounds", default: 7),
            floorProgram: try args.string("floor"), python: try args.string("python"),
            script: try args.string("script"), out: try args.string("out"))
    case "decode":
        guard let dir = args.positional.first else { throw BenchFailure("usage: gantry-bench decode DIR") }
        try ColdDecode.decodeOnce(directory: dir)
    case "webhook":
        try await WebhookScenario.run(
            work: try args.string("work"), repository: try args.string("repo"),
            pushes: args.int("pushes", default: 200), out: try args.string("out"))
    case "memory":
        try await Memory.run(
            work: try args.string("work"), repository: try args.string("repo"),
            reconciles: args.int("reconciles", default: 1000), out: try args.string("out"))
    case "register":
        try await Memory.register(url: try args.string("url"), state: try args.string("state"), seed: args.values["seed"])
    case "profile-plan":
        try await ProfilePlan.run(
            url: try args.string("url"), state: try args.string("state"), plans: args.int("plans", default: 5),
            stagesEvery: args.int("stages-every", default: 1))
    case "profile-change":
        try await ProfileChange.run(work: try args.string("work"), repository: try args.string("repo"), rounds: args.int("rounds", default: 10))
    case "report":
        try Report.write(
            results: try args.string("results"), environment: try args.string("environment"),
            command: try args.string("command"), to: try args.string("to"))
    default:
        throw BenchFailure("unknown verb \(argv[1])")
    }
} catch {
    FileHandle.standardError.write(Data("gantry-bench \(argv[1]): \(error)\n".utf8))
    exit(1)
}
