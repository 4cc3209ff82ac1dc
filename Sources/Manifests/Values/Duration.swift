import YAML

/// A span of time written the way operators write it: `250ms`, `90s`, `10m`,
/// `1h30m`, `2d`.
public struct TimeSpan: Sendable, Hashable, Codable, CustomStringConvertible {
    public var seconds: Double

    public init(seconds: Double) { self.seconds = seconds }

    /// The longest span a manifest may write: ten years of days.
    public static let longest = TimeSpan(seconds: 3650 * 86400)

    public init?(parsing text: String) {
        var total = 0.0
        var number = ""
        var sawUnit = false
        var chars = Array(text)[...]
        while let ch = chars.popFirst() {
            if ch.isNumber || ch == "." {
                number.append(ch)
                continue
            }
            guard let value = Double(number) else { return nil }
            switch ch {
            case "m" where chars.first == "s":
                chars = chars.dropFirst()
                total += value / 1000
            case "s": total += value
            case "m": total += value * 60
            case "h": total += value * 3600
            case "d": total += value * 86400
            default: return nil
            }
            number = ""
            sawUnit = true
        }
        // Above ten years a span is a typo, and far above it no clock can
        // count it (milliseconds overflow Int64).
        guard number.isEmpty, sawUnit, total > 0, total <= Self.longest.seconds else { return nil }
        self.seconds = total
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = TimeSpan(parsing: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "invalid duration \"\(text.clipped)\"; write a number with a unit, at most 3650d: 500ms, 30s, 10m, 2h, 1d")
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public var description: String {
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        var rest = Int(seconds.rounded())
        var out = ""
        for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] where rest >= size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        return out
    }

    public var duration: Duration { .milliseconds(Int64(seconds * 1000)) }
}
