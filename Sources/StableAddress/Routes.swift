import Foundation

/// One backend the forwarder sends requests to, and its share of them.
/// A route with weight 0 takes no new requests; its in-flight ones finish.
public struct Route: Sendable, Hashable, Codable, CustomStringConvertible {
    public var endpoint: Endpoint
    public var weight: Int

    public init(_ endpoint: Endpoint, weight: Int) {
        self.endpoint = endpoint
        self.weight = weight
    }

    public var description: String { "\(endpoint) \(weight)" }

    /// The backend file's text: one `host:port weight` line per route. A
    /// single route of any weight is written as the plain `host:port` line
    /// that every forwarder version reads.
    static func fileText(_ routes: [Route]) -> String {
        if routes.count == 1 { return "\(routes[0].endpoint)\n" }
        return routes.map { "\($0.endpoint) \($0.weight)\n" }.joined()
    }

    /// Parses the backend file: lines of `host:port` (weight 1) or
    /// `host:port weight` (0...10000). Nil when any line is malformed, an
    /// endpoint repeats, or no route has a positive weight: the forwarder then
    /// keeps the routes it had.
    static func parse(_ text: String) -> [Route]? {
        var routes: [Route] = []
        for line in text.split(whereSeparator: { $0 == "\n" }) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            guard fields.count <= 2, let endpoint = Endpoint(parsing: String(fields[0])) else { return nil }
            var weight = 1
            if fields.count == 2 {
                guard let w = Int(fields[1]), (0...10_000).contains(w) else { return nil }
                weight = w
            }
            guard !routes.contains(where: { $0.endpoint == endpoint }) else { return nil }
            routes.append(Route(endpoint, weight: weight))
        }
        return routes.contains(where: { $0.weight > 0 }) ? routes : nil
    }
}

/// What the forwarder has seen of one backend's HTTP requests since it
/// started: counts and a latency histogram, so that a reader can take two
/// snapshots and judge the window between them (`since`). Only requests the
/// forwarder could frame as HTTP/1.x are counted.
public struct BackendStats: Sendable, Codable, Equatable {
    /// Upper bounds of the latency buckets, in seconds; the last bucket
    /// (`latency.count == bounds.count + 1`) holds everything slower.
    public static let bounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// Requests that got a complete answer or failed.
    public var requests: Int
    /// Requests answered 5xx, or not answered at all (connect refused, reset,
    /// cut off): what an error rate counts.
    public var failures: Int
    /// Requests per latency bucket.
    public var latency: [Int]

    public init(requests: Int = 0, failures: Int = 0, latency: [Int] = Array(repeating: 0, count: BackendStats.bounds.count + 1)) {
        self.requests = requests
        self.failures = failures
        self.latency = latency
    }

    mutating func record(seconds: Double, failed: Bool) {
        requests += 1
        if failed { failures += 1 }
        let bucket = Self.bounds.firstIndex(where: { seconds <= $0 }) ?? Self.bounds.count
        if latency.count != Self.bounds.count + 1 { latency = Array(repeating: 0, count: Self.bounds.count + 1) }
        latency[bucket] += 1
    }

    /// The counts after `earlier`; the whole of `self` when `earlier` is nil
    /// or from a forwarder that has restarted since (counts went down).
    public func since(_ earlier: BackendStats?) -> BackendStats {
        guard let earlier, earlier.requests <= requests, earlier.latency.count == latency.count else { return self }
        return BackendStats(
            requests: requests - earlier.requests, failures: failures - earlier.failures,
            latency: zip(latency, earlier.latency).map { $0 - $1 })
    }

    /// Two backends' counts as one (the replicas of a version).
    public static func + (a: BackendStats, b: BackendStats) -> BackendStats {
        let width = Self.bounds.count + 1
        let pad = { (l: [Int]) in l.count == width ? l : Array(repeating: 0, count: width) }
        return BackendStats(
            requests: a.requests + b.requests, failures: a.failures + b.failures, latency: zip(pad(a.latency), pad(b.latency)).map(+))
    }

    /// Failures over requests; nil without requests.
    public var errorRate: Double? { requests > 0 ? Double(failures) / Double(requests) : nil }

    /// The upper bound of the bucket holding quantile `q` (0...1): a
    /// conservative reading, never lower than the true quantile. Infinity
    /// when it falls in the overflow bucket, nil without requests.
    public func quantile(_ q: Double) -> Double? {
        let total = latency.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = max(1, Int((q * Double(total)).rounded(.up)))
        var seen = 0
        for (index, count) in latency.enumerated() {
            seen += count
            if seen >= rank { return index < Self.bounds.count ? Self.bounds[index] : .infinity }
        }
        return .infinity
    }
}
