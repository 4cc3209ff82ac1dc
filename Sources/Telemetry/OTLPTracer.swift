import Foundation
import Synchronization
import Tracing

/// The trace and span a context carries, as lowercase hex (32 and 16
/// digits): what W3C `traceparent` headers and OTLP name them by.
public struct SpanIDs: Sendable, Hashable {
    public var trace: String
    public var span: String

    static func random(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var hex = ""
        hex.reserveCapacity(bytes * 2)
        for _ in 0..<bytes { hex += String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }
        return hex
    }

    /// `00-<trace>-<span>-<flags>`; nil for anything else (an all-zero id
    /// included, which the W3C format calls invalid).
    init?(traceparent: String) {
        let parts = traceparent.split(separator: "-")
        guard parts.count == 4, parts[0].count == 2, parts[1].count == 32, parts[2].count == 16,
            parts[1].allSatisfy(\.isHexDigit), parts[2].allSatisfy(\.isHexDigit),
            parts[1].contains(where: { $0 != "0" }), parts[2].contains(where: { $0 != "0" })
        else { return nil }
        trace = parts[1].lowercased()
        span = parts[2].lowercased()
    }

    init(trace: String, span: String) {
        self.trace = trace
        self.span = span
    }

    var traceparent: String { "00-\(trace)-\(span)-01" }
}

enum SpanIDsKey: InstrumentationContextKey {
    typealias Value = SpanIDs
    static var nameOverride: String? { "gantry-span" }
}

/// A tracer whose spans go to an OTLP/HTTP endpoint (``OTLPExporter``):
/// bootstrapped once by `gantry controller --otlp-endpoint`, used through
/// swift-distributed-tracing's `withSpan` everywhere else. Context crosses
/// HTTP as W3C `traceparent`.
public struct OTLPTracer: Tracer {
    public typealias Span = OTLPSpan
    let exporter: OTLPExporter

    public init(exporter: OTLPExporter) {
        self.exporter = exporter
    }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> InstrumentationContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> OTLPSpan {
        var context = context()
        let parent = context[SpanIDsKey.self]
        let ids = SpanIDs(trace: parent?.trace ?? SpanIDs.random(bytes: 16), span: SpanIDs.random(bytes: 8))
        context[SpanIDsKey.self] = ids
        return OTLPSpan(
            name: operationName, kind: kind, context: context, ids: ids, parent: parent?.span, start: instant().nanosecondsSinceEpoch,
            exporter: exporter)
    }

    public func startAnySpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> InstrumentationContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> any Tracing.Span {
        startSpan(operationName, context: context(), ofKind: kind, at: instant(), function: function, file: fileID, line: line)
    }

    public func forceFlush() { exporter.flushSoon() }

    public func inject<Carrier, Inject>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Carrier == Inject.Carrier {
        guard let ids = context[SpanIDsKey.self] else { return }
        injector.inject(ids.traceparent, forKey: "traceparent", into: &carrier)
    }

    public func extract<Carrier, Extract>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
    where Extract: Extractor, Carrier == Extract.Carrier {
        guard let header = extractor.extract(key: "traceparent", from: carrier), let ids = SpanIDs(traceparent: header) else { return }
        context[SpanIDsKey.self] = ids
    }
}

/// One span, kept until it ends and then handed to the exporter.
public final class OTLPSpan: Tracing.Span, Sendable {
    struct State {
        var name: String
        var attributes: SpanAttributes = [:]
        var status: SpanStatus?
        var events: [SpanEvent] = []
        var links: [SpanIDs] = []
        var ended = false
    }

    public let context: InstrumentationContext
    let ids: SpanIDs
    let parent: String?
    let kind: SpanKind
    let start: UInt64
    let exporter: OTLPExporter
    private let state: Mutex<State>

    init(
        name: String, kind: SpanKind, context: InstrumentationContext, ids: SpanIDs, parent: String?, start: UInt64, exporter: OTLPExporter
    ) {
        self.context = context
        self.ids = ids
        self.parent = parent
        self.kind = kind
        self.start = start
        self.exporter = exporter
        state = Mutex(State(name: name))
    }

    public var operationName: String {
        get { state.withLock { $0.name } }
        set { state.withLock { $0.name = newValue } }
    }

    public var attributes: SpanAttributes {
        get { state.withLock { $0.attributes } }
        set { state.withLock { $0.attributes = newValue } }
    }

    public var isRecording: Bool { state.withLock { !$0.ended } }

    public func setStatus(_ status: SpanStatus) { state.withLock { $0.status = status } }

    public func addEvent(_ event: SpanEvent) { state.withLock { $0.events.append(event) } }

    public func addLink(_ link: SpanLink) {
        guard let ids = link.context[SpanIDsKey.self] else { return }
        state.withLock { $0.links.append(ids) }
    }

    public func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
        var all = attributes
        all["exception.type"] = String(describing: type(of: error))
        all["exception.message"] = String(describing: error)
        addEvent(SpanEvent(name: "exception", at: instant(), attributes: all))
    }

    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let end = instant().nanosecondsSinceEpoch
        let finished: State? = state.withLock { state in
            guard !state.ended else { return nil }
            state.ended = true
            return state
        }
        guard let finished else { return }
        exporter.add(
            FinishedSpan(
                ids: ids, parent: parent, name: finished.name, kind: kind, start: start, end: end, attributes: finished.attributes,
                status: finished.status, events: finished.events, links: finished.links))
    }
}

/// A span as the exporter sends it.
struct FinishedSpan: Sendable {
    var ids: SpanIDs
    var parent: String?
    var name: String
    var kind: SpanKind
    var start: UInt64
    var end: UInt64
    var attributes: SpanAttributes
    var status: SpanStatus?
    var events: [SpanEvent]
    var links: [SpanIDs]
}
