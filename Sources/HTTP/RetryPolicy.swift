import Foundation

/// When a failed call is tried again: exponential backoff with full jitter
/// (each wait is random between zero and the capped exponential delay), so
/// many controllers retrying one peer do not retry in step.
///
///     let policy = RetryPolicy(attempts: 5, initialDelay: .milliseconds(200), maxDelay: .seconds(5))
public struct RetryPolicy: Sendable, Hashable {
    /// Tries in all, the first included; 1 means no retry.
    public var attempts: Int
    public var initialDelay: Duration
    public var maxDelay: Duration

    public init(attempts: Int, initialDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(5)) {
        self.attempts = max(1, attempts)
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
    }

    /// Four tries over at most about 1.4 s of waiting.
    public static let standard = RetryPolicy(attempts: 4)
    public static let none = RetryPolicy(attempts: 1)

    /// The longest wait before try `attempt + 1` (attempt counts from 1).
    public func ceiling(after attempt: Int) -> Duration {
        let factor = Double(1 << min(max(attempt - 1, 0), 20))
        let seconds = min(initialDelay.seconds * factor, maxDelay.seconds)
        return .milliseconds(Int64(seconds * 1000))
    }

    /// A random wait between zero and ``ceiling(after:)``.
    public func delay(after attempt: Int) -> Duration {
        let ceiling = ceiling(after: attempt).seconds
        return .milliseconds(Int64(Double.random(in: 0...ceiling) * 1000))
    }

    /// Whether a call may be sent again after `error` or a response with
    /// `status`. Idempotent methods are retried after connection failures,
    /// 429 and 5xx; others only when the request provably never left (the
    /// connection was refused or the host did not resolve).
    public static func isRetryable(method: String, idempotent: Bool? = nil, status: Int? = nil, error: HTTPError? = nil) -> Bool {
        let safe = idempotent ?? ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"].contains(method.uppercased())
        if let error { return safe ? error.isConnectionFailure : error.neverSent }
        guard let status, safe else { return false }
        return status == 429 || status == 502 || status == 503 || status == 504 || status == 500
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
