import Foundation
import GantryTestSupport
import HTTP
import Processes
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `gantry controller --otlp-endpoint` against an OTLP/HTTP collector on
/// loopback, which checks every request against OpenTelemetry's own
/// protobuf definitions (the `opentelemetry-proto` package in the peers'
/// venv) before it accepts it.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct TracingTests {
    /// Accepts `POST /v1/traces` in OTLP's JSON encoding, parses it into
    /// `ExportTraceServiceRequest` (unknown fields and wrong types are
    /// refused with 400) and writes one JSON line per span to `argv[1]`.
    static let collector = """
        import base64, json, sys
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from google.protobuf import json_format
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
        out = open(sys.argv[1], "a", buffering=1)
        IDS = ("traceId", "spanId", "parentSpanId")
        def to_proto_json(value):
            # OTLP/JSON writes ids as hex; protobuf's JSON mapping wants base64.
            if isinstance(value, list):
                return [to_proto_json(v) for v in value]
            if isinstance(value, dict):
                return {k: base64.b64encode(bytes.fromhex(v)).decode() if k in IDS else to_proto_json(v) for k, v in value.items()}
            return value
        def value(v):
            kind = v.WhichOneof("value")
            return getattr(v, kind) if kind else None
        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    assert self.path == "/v1/traces", self.path
                    assert self.headers["Content-Type"] == "application/json", self.headers["Content-Type"]
                    request = json_format.Parse(json.dumps(to_proto_json(json.loads(body))), ExportTraceServiceRequest())
                except Exception as e:
                    out.write(json.dumps({"error": str(e)}) + "\\n")
                    self.send_response(400); self.end_headers(); return
                for rs in request.resource_spans:
                    resource = {a.key: value(a.value) for a in rs.resource.attributes}
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            assert len(s.trace_id) == 16 and len(s.span_id) == 8
                            out.write(json.dumps({
                                "service": resource.get("service.name"), "name": s.name, "kind": s.kind,
                                "trace": s.trace_id.hex(), "span": s.span_id.hex(), "parent": s.parent_span_id.hex(),
                                "start": s.start_time_unix_nano, "end": s.end_time_unix_nano, "status": s.status.code,
                                "attributes": {a.key: value(a.value) for a in s.attributes},
                                "events": [e.name for e in s.events],
                            }) + "\\n")
                self.send_response(200); self.send_header("Content-Type", "application/json"); self.end_headers()
                self.wfile.write(b"{}")
            def log_message(self, *args): pass
        server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """

    struct Span: Decodable {
        var service: String?
        var name: String
        var kind: Int
        var trace: String
        var span: String
        var parent: String
        var start: Int
        var end: Int
        var status: Int
        var attributes: [String: JSONScalar]
        var events: [String]
    }

    enum JSONScalar: Decodable, Equatable {
        case string(String), number(Double), bool(Bool), other

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let v = try? c.decode(Bool.self) {
                self = .bool(v)
            } else if let v = try? c.decode(Double.self) {
                self = .number(v)
            } else if let v = try? c.decode(String.self) {
                self = .string(v)
            } else {
                self = .other
            }
        }
    }

    @Test func aReconcileAndAnAPIRequestReachTheCollectorAsTraces() async throws {
        let directory = makeTemporaryDirectory("gantry-otlp")
        let script = directory + "/collector.py"
        try Self.collector.write(toFile: script, atomically: true, encoding: .utf8)
        let received = directory + "/spans.jsonl"
        let collector = try ChildProcess.spawn(
            ProcessSpec(argv: [Peers.venv + "/bin/python", script, received], environment: Peers.environment, logPath: directory + "/collector.log"))
        defer { kill(collector.pid, SIGKILL) }
        var collectorPort = 0
        try await eventually("the collector listens", timeout: .seconds(30)) {
            let log = (try? String(contentsOfFile: directory + "/collector.log", encoding: .utf8)) ?? ""
            if collector.exitStatus != nil { throw TestFailure("the collector stopped: \(log) (\(Peers.howToInstall))") }
            collectorPort = log.split(separator: "\n").first.flatMap { Int($0) } ?? 0
            return collectorPort > 0
        }

        let project = try await TestProject(port: freePort())
        let apiPort = freePort()
        let state = directory + "/state"
        let controller = try ChildProcess.spawn(
            ProcessSpec(
                argv: [
                    gantryExecutable, "controller", "--repo", project.directory, "--branch", "main", "--state-dir", state, "--interval", "1h",
                    "--listen", "127.0.0.1:\(apiPort)", "--otlp-endpoint", "http://127.0.0.1:\(collectorPort)",
                ],
                environment: ProcessInfo.processInfo.environment, logPath: directory + "/controller.log"))
        defer { kill(controller.pid, SIGKILL) }
        func spans() -> [Span] {
            let text = (try? String(contentsOfFile: received, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Span.self, from: Data($0.utf8)) }
        }
        try await eventually("the first reconcile's trace arrives", timeout: .seconds(90)) {
            spans().contains { $0.name == "reconcile" && $0.attributes["gantry.result"] == .string("applied") }
        }

        // An API call that carries a trace context continues that trace.
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        let answered = try await HTTPClient.shared.send(
            HTTPRequest(url: "http://127.0.0.1:\(apiPort)/healthz", headers: [("traceparent", "00-\(trace)-00f067aa0ba902b7-01")]))
        #expect(answered.status == 200)
        kill(controller.pid, SIGTERM)
        #expect(await controller.wait() == .exited(0), "\((try? String(contentsOfFile: directory + "/controller.log", encoding: .utf8)) ?? "")")

        let all = spans()
        let errors = ((try? String(contentsOfFile: received, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.contains("\"error\"") }
        #expect(errors.isEmpty, "the collector refused: \(errors)")
        let reconcile = try #require(all.first { $0.name == "reconcile" && $0.attributes["gantry.result"] == .string("applied") })
        let inTrace = all.filter { $0.trace == reconcile.trace }
        func child(_ name: String, of parent: Span) -> Span? { inTrace.first { $0.name == name && $0.parent == parent.span } }
        let fetch = try #require(child("fetch", of: reconcile), "\(inTrace.map(\.name))")
        let plan = try #require(child("plan", of: reconcile))
        let apply = try #require(child("apply", of: reconcile))
        let train = try #require(child("train Model/demo", of: apply), "\(inTrace.map(\.name))")
        let deploy = try #require(child("deploy Deployment/demo-prod", of: apply), "\(inTrace.map(\.name))")
        #expect(reconcile.parent.isEmpty && reconcile.service == "gantry" && reconcile.kind == 1)
        #expect(fetch.end <= plan.start && plan.end <= apply.start && train.end <= deploy.start, "in order")
        #expect(reconcile.start <= fetch.start && apply.end <= reconcile.end, "children inside their parent")
        #expect(train.attributes["gantry.model"] == .string("demo") && train.attributes["gantry.version"] == .number(1))
        #expect(plan.attributes["gantry.actions"] == .number(2))
        #expect(reconcile.attributes["gantry.commit"] != nil)

        let request = try #require(all.first { $0.trace == trace }, "\(all.map(\.name))")
        #expect(request.parent == "00f067aa0ba902b7" && request.kind == 2, "a server span under the caller's")
        try? await runCommand([gantryExecutable, "destroy", "--yes", "--repo", project.directory, "--state-dir", state])
    }
}
