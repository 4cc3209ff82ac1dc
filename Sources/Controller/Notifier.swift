import Foundation
import HTTP
import Logging

/// Outgoing webhooks on what people want to hear about: a sync that failed,
/// a retrain, a promotion, a rollback. Each receiver gets Slack-compatible
/// JSON (`{"text": …}`) or Gantry's own generic JSON. A receiver that is
/// down never holds up a reconcile: a delivery has a short timeout and its
/// failure is only logged.
///
///     let notifier = Notifier(receivers: [.init(url: "https://hooks.slack.com/services/…", format: .slack)])
///     await notifier.send(.init(event: .retrained, object: "Model/churn", message: "trained v3"))
public struct Notifier: Sendable {
    public struct Receiver: Sendable {
        public enum Format: String, Sendable { case slack, generic }
        public var url: String
        public var format: Format

        public init(url: String, format: Format) {
            self.url = url
            self.format = format
        }
    }

    public enum Event: String, Codable, Sendable {
        case syncFailed = "sync-failed"
        case retrained
        case promoted
        case rolledBack = "rolled-back"
        /// A new version trained but did not pass its promotion gates.
        case gateBlocked = "gate-blocked"
        /// What failed (and was announced) reconciles again.
        case recovered

        var title: String {
            switch self {
            case .gateBlocked: return ":no_entry: Blocked by its gates"
            case .recovered: return ":white_check_mark: Recovered"
            case .syncFailed: return ":x: Sync failed"
            case .retrained: return ":arrows_counterclockwise: Retrained"
            case .promoted: return ":rocket: Promoted"
            case .rolledBack: return ":leftwards_arrow_with_hook: Rolled back"
            }
        }
    }

    /// The generic body, as sent.
    public struct Notification: Codable, Sendable {
        public var event: Event
        public var object: String
        public var message: String
        public var source: String
        public var commit: String
        public var time: Date

        public init(event: Event, object: String, message: String, source: String = "", commit: String = "", time: Date = Date()) {
            self.event = event
            self.object = object
            self.message = message
            self.source = source
            self.commit = commit
            self.time = time
        }
    }

    public var receivers: [Receiver]
    var logger: Logger

    public init(receivers: [Receiver], logger: Logger = Logger(label: "gantry.notify")) {
        self.receivers = receivers
        self.logger = logger
    }

    public func send(_ notification: Notification) async {
        await withTaskGroup(of: Void.self) { group in
            for receiver in receivers {
                group.addTask { await deliver(notification, to: receiver) }
            }
        }
    }

    static func body(_ n: Notification, format: Receiver.Format) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        switch format {
        case .generic:
            return Array((try? encoder.encode(n)) ?? Data())
        case .slack:
            let commit = n.commit.isEmpty ? "" : " at `\(n.commit.prefix(12))`"
            let text = "*\(n.event.title)* `\(n.object)`\(commit)\n\(n.message)"
            return Array((try? encoder.encode(["text": text])) ?? Data())
        }
    }

    /// A receiver as logs show it: Slack-style URLs carry their secret in
    /// the path, so only the scheme and host are shown.
    static func redacted(_ url: String) -> String {
        let base = HTTPError.redact(url)
        guard let scheme = base.range(of: "://") else { return "[redacted]" }
        let rest = base[scheme.upperBound...]
        let host = rest.prefix { $0 != "/" }
        return String(base[..<scheme.upperBound] + host) + (rest.count > host.count ? "/[redacted]" : "")
    }

    func deliver(_ notification: Notification, to receiver: Receiver) async {
        let request = HTTPRequest(
            method: "POST", url: receiver.url, headers: [("Content-Type", "application/json")],
            body: Self.body(notification, format: receiver.format), timeout: .seconds(5))
        let where_ = Self.redacted(receiver.url)
        do {
            let response = try await HTTPClient.shared.send(request)
            if !(200..<300).contains(response.status) {
                logger.warning(
                    "notification refused",
                    metadata: [
                        "receiver": "\(where_)", "status": "\(response.status)",
                        "event": "\(notification.event.rawValue)",
                    ])
            }
        } catch {
            logger.warning(
                "notification not delivered",
                metadata: [
                    "receiver": "\(where_)", "error": "\(error)",
                    "event": "\(notification.event.rawValue)",
                ])
        }
    }
}
