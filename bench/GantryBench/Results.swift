import Foundation

/// One scenario's figures, written as JSON by the process that measured
/// them and read back by `report`.
struct ScenarioResult: Codable {
    var id: String
    var series: [Series] = []
    /// Facts that explain the figures: counts, what a plan contained.
    var facts: [String: String] = [:]

    init(id: String) { self.id = id }

    subscript(name: String) -> Series? { series.first { $0.name == name } }

    func write(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: directory + "/\(id).json"))
    }

    static func read(_ id: String, from directory: String) -> ScenarioResult? {
        guard let data = FileManager.default.contents(atPath: directory + "/\(id).json") else { return nil }
        return try? JSONDecoder().decode(ScenarioResult.self, from: data)
    }
}

/// Runs contestants in turns, rotating who goes first each round so that
/// none always benefits from (or pays for) going first.
func alternate(rounds: Int, _ names: [String], _ round: (Int) throws -> Void, _ run: (String) throws -> Double) rethrows -> [Series] {
    var series = names.map { Series($0) }
    for r in 0..<rounds {
        try round(r)
        for k in 0..<names.count {
            let i = (r + k) % names.count
            series[i].samples.append(try run(names[i]))
        }
    }
    return series
}

func alternate(rounds: Int, _ names: [String], _ round: (Int) async throws -> Void, _ run: (String) async throws -> Double) async rethrows -> [Series] {
    var series = names.map { Series($0) }
    for r in 0..<rounds {
        try await round(r)
        for k in 0..<names.count {
            let i = (r + k) % names.count
            series[i].samples.append(try await run(names[i]))
        }
    }
    return series
}
