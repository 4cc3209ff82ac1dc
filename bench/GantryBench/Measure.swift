import Foundation
import Glibc

/// Wall-clock timing, medians and the process's resident memory.
enum Measure {
    /// Monotonic seconds.
    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// CPU seconds used by this process so far (user + system, all threads).
    static func cpu() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// Seconds that `body` took.
    static func time(_ body: () throws -> Void) rethrows -> Double {
        let start = now()
        try body()
        return now() - start
    }

    static func time(_ body: () async throws -> Void) async rethrows -> Double {
        let start = now()
        try await body()
        return now() - start
    }

    static func median(_ xs: [Double]) -> Double {
        precondition(!xs.isEmpty, "median of nothing")
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// A field of /proc/self/status in KiB, such as VmRSS or VmHWM.
    static func statusKiB(_ field: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? -1
        }
        return -1
    }

    /// Resident memory in MiB.
    static func rssMiB() -> Double { Double(statusKiB("VmRSS")) / 1024 }
}

/// The samples of one contestant in one scenario.
struct Series: Codable {
    var name: String
    var samples: [Double]
    var median: Double { Measure.median(samples) }
    var min: Double { samples.min() ?? .nan }
    var max: Double { samples.max() ?? .nan }

    init(_ name: String, _ samples: [Double] = []) {
        self.name = name
        self.samples = samples
    }
}

/// Milliseconds with a sensible number of digits.
func ms(_ seconds: Double) -> String {
    let v = seconds * 1000
    if v < 10 { return String(format: "%.2f ms", v) }
    if v < 100 { return String(format: "%.1f ms", v) }
    return String(format: "%.0f ms", v)
}

func ratio(_ x: Double) -> String {
    x >= 10 ? String(format: "%.0fx", x) : String(format: "%.1fx", x)
}

/// Progress on stderr, so that a long run shows it is alive.
func note(_ text: String) {
    FileHandle.standardError.write(Data(("[bench] " + text + "\n").utf8))
}
