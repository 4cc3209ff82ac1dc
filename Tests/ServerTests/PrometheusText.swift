import Foundation

/// A parser for the Prometheus text exposition format (version 0.0.4),
/// strict enough to fail on what a Prometheus server would reject: bad
/// metric or label names, bad escapes, samples of an undeclared type,
/// non-monotonic histogram buckets.
struct PrometheusText {
    struct Sample: Hashable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct Failure: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var description: String { "line \(line): \(message)" }
    }

    var types: [String: String] = [:]
    var help: [String: String] = [:]
    var samples: [Sample] = []

    static let name = try! NSRegularExpression(pattern: "^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    static let label = try! NSRegularExpression(pattern: "^[a-zA-Z_][a-zA-Z0-9_]*$")

    static func matches(_ re: NSRegularExpression, _ s: String) -> Bool {
        re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    init(_ text: String) throws {
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            let number = index + 1
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                guard parts.count >= 3, ["HELP", "TYPE"].contains(parts[1]) else { continue }
                guard Self.matches(Self.name, parts[2]) else { throw Failure(line: number, message: "bad metric name \(parts[2])") }
                if parts[1] == "TYPE" {
                    let type = parts.count > 3 ? parts[3] : ""
                    guard ["counter", "gauge", "histogram", "summary", "untyped"].contains(type) else {
                        throw Failure(line: number, message: "bad type \(type)")
                    }
                    if types[parts[2]] != nil, types[parts[2]] != type { throw Failure(line: number, message: "\(parts[2]) typed twice") }
                    types[parts[2]] = type
                } else {
                    help[parts[2]] = parts.count > 3 ? parts[3] : ""
                }
                continue
            }
            samples.append(try Self.sample(line, number: number))
        }
        for sample in samples {
            let family =
                types[sample.name] != nil
                ? sample.name
                : ["_bucket", "_sum", "_count"].compactMap { sample.name.hasSuffix($0) ? String(sample.name.dropLast($0.count)) : nil }.first {
                    types[$0] != nil
                }
            guard let family else { throw Failure(line: 0, message: "sample \(sample.name) has no TYPE") }
            if types[family] == "histogram", sample.name == family { throw Failure(line: 0, message: "bare sample of histogram \(family)") }
        }
        try checkHistograms()
    }

    static func sample(_ line: String, number: Int) throws -> Sample {
        var rest = Substring(line)
        let name = String(rest.prefix { $0 != "{" && $0 != " " })
        guard matches(Self.name, name) else { throw Failure(line: number, message: "bad metric name \(name)") }
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                let key = String(rest.prefix { $0 != "=" })
                guard matches(label, key) else { throw Failure(line: number, message: "bad label name \(key)") }
                rest = rest.dropFirst(key.count)
                guard rest.hasPrefix("=\"") else { throw Failure(line: number, message: "label \(key) without a quoted value") }
                rest = rest.dropFirst(2)
                var value = ""
                while let c = rest.first, c != "\"" {
                    rest = rest.dropFirst()
                    if c == "\\" {
                        guard let e = rest.first else { break }
                        rest = rest.dropFirst()
                        switch e {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw Failure(line: number, message: "bad escape \\\(e)")
                        }
                    } else {
                        value.append(c)
                    }
                }
                guard rest.first == "\"" else { throw Failure(line: number, message: "unterminated label value") }
                rest = rest.dropFirst()
                guard labels.updateValue(value, forKey: key) == nil else { throw Failure(line: number, message: "label \(key) twice") }
                if rest.first == "," { rest = rest.dropFirst() }
            }
            rest = rest.dropFirst()
        }
        let fields = rest.split(separator: " ")
        guard (1...2).contains(fields.count) else { throw Failure(line: number, message: "expected a value (and a timestamp)") }
        let text = String(fields[0])
        guard let value = Double(text) ?? ["+Inf": Double.infinity, "-Inf": -Double.infinity, "NaN": Double.nan][text] else {
            throw Failure(line: number, message: "bad value \(text)")
        }
        return Sample(name: name, labels: labels, value: value)
    }

    func checkHistograms() throws {
        for (family, type) in types where type == "histogram" {
            var series: [[String: String]: [(Double, Double)]] = [:]
            for s in samples where s.name == family + "_bucket" {
                guard let le = s.labels["le"], let bound = Double(le) ?? (le == "+Inf" ? .infinity : nil) else {
                    throw Failure(line: 0, message: "\(family) bucket without a valid le")
                }
                var key = s.labels
                key["le"] = nil
                series[key, default: []].append((bound, s.value))
            }
            for (key, buckets) in series {
                let sorted = buckets.sorted { $0.0 < $1.0 }
                guard sorted.last?.0 == .infinity else { throw Failure(line: 0, message: "\(family)\(key) has no +Inf bucket") }
                for (a, b) in zip(sorted, sorted.dropFirst()) where b.1 < a.1 {
                    throw Failure(line: 0, message: "\(family)\(key) buckets are not cumulative")
                }
                let count = samples.first { $0.name == family + "_count" && $0.labels == key }?.value
                guard count == sorted.last?.1 else { throw Failure(line: 0, message: "\(family)\(key) _count differs from the +Inf bucket") }
            }
        }
    }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }?.value
    }
}
