import Foundation
import HTTP
import ServiceLifecycle
import Synchronization
import Tracing

/// Sends finished spans to an OTLP/HTTP collector as JSON
/// (`POST <endpoint>/v1/traces`, the OTLP specification's JSON encoding:
/// ids as hex, 64-bit numbers as strings), every second and when the
/// service stops. A collector that cannot be reached costs the spans of
/// that second, never the controller's memory: at most `capacity` spans
/// wait, and what does not fit is counted and dropped.
public final class OTLPExporter: Service, Sendable {
    public let endpoint: String
    let service: String
    let version: String
    let capacity: Int
    let interval: Duration
    let report: @Sendable (String) -> Void
    private let buffer = Mutex<(spans: [FinishedSpan], dropped: Int)>(([], 0))

    /// `endpoint` is the collector's base URL (`http://127.0.0.1:4318`);
    /// `report` hears of failed sends.
    public init(
        endpoint: String, service: String = "gantry", version: String, capacity: Int = 4096, interval: Duration = .seconds(1),
        report: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.service = service
        self.version = version
        self.capacity = capacity
        self.interval = interval
        self.report = report
    }

    func add(_ span: FinishedSpan) {
        buffer.withLock { buffer in
            if buffer.spans.count < capacity { buffer.spans.append(span) } else { buffer.dropped += 1 }
        }
    }

    /// Sends what waits now, without waiting for the next second.
    func flushSoon() {
        Task { await flush() }
    }

    /// Sends every second until the service group stops, then once more.
    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await flush()
        }
        await flush()
    }

    /// Sends every span that waits, in one request.
    public func flush() async {
        let (spans, dropped) = buffer.withLock { buffer in
            defer { buffer = ([], 0) }
            return buffer
        }
        if dropped > 0 { report("dropped \(dropped) spans: more than \(capacity) waited for the collector") }
        guard !spans.isEmpty else { return }
        let body = Self.encode(spans, service: service, version: version)
        do {
            let response = try await HTTPClient.shared.send(
                HTTPRequest(
                    method: "POST", url: endpoint + "/v1/traces", headers: [("Content-Type", "application/json")], body: Array(body),
                    timeout: .seconds(10), connectTimeout: .seconds(2)))
            guard (200..<300).contains(response.status) else {
                report("the collector at \(endpoint) answered \(response.status) to \(spans.count) spans: \(response.text.prefix(200))")
                return
            }
        } catch {
            report("sending \(spans.count) spans to \(endpoint): \(error)")
        }
    }

    // MARK: - OTLP JSON

    static func encode(_ spans: [FinishedSpan], service: String, version: String) -> Data {
        let resource: [String: Any] = ["attributes": [attribute("service.name", .string(service)), attribute("service.version", .string(version))]]
        let encoded = spans.map { span -> [String: Any] in
            var object: [String: Any] = [
                "traceId": span.ids.trace, "spanId": span.ids.span, "name": span.name, "kind": kind(span.kind),
                "startTimeUnixNano": String(span.start), "endTimeUnixNano": String(span.end), "attributes": attributes(span.attributes),
            ]
            if let parent = span.parent { object["parentSpanId"] = parent }
            if !span.events.isEmpty {
                object["events"] = span.events.map {
                    ["timeUnixNano": String($0.nanosecondsSinceEpoch), "name": $0.name, "attributes": attributes($0.attributes)] as [String: Any]
                }
            }
            if !span.links.isEmpty { object["links"] = span.links.map { ["traceId": $0.trace, "spanId": $0.span] } }
            if let status = span.status {
                var s: [String: Any] = ["code": status.code == .ok ? 1 : 2]
                if let message = status.message { s["message"] = message }
                object["status"] = s
            }
            return object
        }
        let request: [String: Any] = [
            "resourceSpans": [
                ["resource": resource, "scopeSpans": [["scope": ["name": "gantry", "version": version], "spans": encoded]]]
            ]
        ]
        return (try? JSONSerialization.data(withJSONObject: request, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    /// SPAN_KIND_INTERNAL = 1, SERVER, CLIENT, PRODUCER, CONSUMER.
    static func kind(_ kind: SpanKind) -> Int {
        switch kind {
        case .server: 2
        case .client: 3
        case .producer: 4
        case .consumer: 5
        default: 1
        }
    }

    static func attributes(_ attributes: SpanAttributes) -> [[String: Any]] {
        var out: [[String: Any]] = []
        attributes.forEach { key, value in out.append(attribute(key, value)) }
        return out.sorted { ($0["key"] as? String ?? "") < ($1["key"] as? String ?? "") }
    }

    static func attribute(_ key: String, _ value: SpanAttribute) -> [String: Any] {
        ["key": key, "value": anyValue(value)]
    }

    static func anyValue(_ value: SpanAttribute) -> [String: Any] {
        func array(_ values: [[String: Any]]) -> [String: Any] { ["arrayValue": ["values": values]] }
        switch value {
        case .int32(let v): return ["intValue": String(v)]
        case .int64(let v): return ["intValue": String(v)]
        case .double(let v): return v.isFinite ? ["doubleValue": v] : ["stringValue": String(v)]
        case .bool(let v): return ["boolValue": v]
        case .string(let v): return ["stringValue": v]
        case .int32Array(let v): return array(v.map { ["intValue": String($0)] })
        case .int64Array(let v): return array(v.map { ["intValue": String($0)] })
        case .doubleArray(let v): return array(v.map { ["doubleValue": $0] })
        case .boolArray(let v): return array(v.map { ["boolValue": $0] })
        case .stringArray(let v): return array(v.map { ["stringValue": $0] })
        case .stringConvertible(let v): return ["stringValue": v.description]
        case .stringConvertibleArray(let v): return array(v.map { ["stringValue": $0.description] })
        default: return ["stringValue": "\(value)"]
        }
    }
}
