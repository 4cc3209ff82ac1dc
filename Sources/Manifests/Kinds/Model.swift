import YAML

/// Which pipeline trains a model, with which params and datasets, where; when
/// it retrains and how a new version is promoted.
///
///     kind: Model
///     metadata: { name: churn }
///     spec:
///       pipeline: churn-training
///       datasets: [churn-data]
///       target: local
///       params: { epochs: 300 }
///       promotion: { policy: manual, gates: ["accuracy >= 0.8"] }
public struct ModelSpec: Sendable, Hashable, Codable {
    public var pipeline: String
    public var datasets: [String]?
    public var target: String
    public var params: [String: ParamValue]?
    /// Free-form runtime facts recorded in lineage (image, python version).
    public var runtime: [String: String]?
    public var triggers: Triggers?
    public var promotion: Promotion?
}

public struct Triggers: Sendable, Hashable, Codable {
    public var data: Bool?
    public var code: Bool?
    public var params: Bool?
    /// Retrain when the Python environment the steps run in changes
    /// (interpreter version, installed packages, lockfile). Off by default.
    public var runtime: Bool?
    /// Retrain at least this often even when nothing changed.
    public var schedule: TimeSpan?
}

public struct Promotion: Sendable, Hashable, Codable {
    public enum Policy: String, StringEnum, Codable { case manual, auto }

    public var policy: Policy
    /// Conditions on metrics, such as `accuracy >= 0.9`.
    public var gates: [String]?
}

/// A parsed promotion gate: `metric op threshold`.
public struct MetricGate: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Comparison: String, Sendable, Hashable, Codable, CaseIterable {
        case atLeast = ">=", atMost = "<=", greater = ">", less = "<", equal = "=="
    }

    public var metric: String
    public var comparison: Comparison
    public var threshold: Double

    public init?(parsing text: String) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3, let c = Comparison(rawValue: String(parts[1])), let t = Double(parts[2]),
            !parts[0].isEmpty
        else { return nil }
        metric = String(parts[0])
        comparison = c
        threshold = t
    }

    public func passes(_ value: Double) -> Bool {
        switch comparison {
        case .atLeast: return value >= threshold
        case .atMost: return value <= threshold
        case .greater: return value > threshold
        case .less: return value < threshold
        case .equal: return value == threshold
        }
    }

    public var description: String { "\(metric) \(comparison.rawValue) \(threshold)" }
}
