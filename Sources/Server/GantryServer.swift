import Controller
import Foundation
import Hummingbird
import Listener
import Logging
import Reconciler
import State

/// The controller's HTTP face: the JSON API, webhook receivers, the
/// dashboard, `/metrics`, `/healthz` and `/readyz`. A thin shell over the
/// same core as the CLI: it reads the store and the loop's shared status,
/// and acts through the reconciler and the loop's wake-up.
///
///     let server = GantryServer(reconciler: reconciler, status: loop.status, wakeup: loop.wakeup,
///                               metrics: metrics, tokens: try TokenFile.load(path: "tokens.yaml"),
///                               source: .init(location: git.location, ref: git.ref))
///     let app = server.application(host: "127.0.0.1", port: 8080, logger: logger)
///     try await ServiceGroup(services: [loop, app], logger: logger).run()
public struct GantryServer: Sendable {
    /// The repository the controller follows, for matching webhook pushes,
    /// and its web page on the forge, for links to the branches Gantry
    /// pushes for review.
    public struct FollowedSource: Sendable {
        public var location: String
        public var ref: String?
        /// `https://host/owner/name`: given, or derived from an https or
        /// ssh clone URL; nil for file://, git:// and the like.
        public var web: String?

        public init(location: String, ref: String?, web: String? = nil) {
            self.location = location
            self.ref = ref
            self.web = web.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? Self.webPage(of: location)
        }

        /// The web page of a repository cloned from `location`:
        /// `https://[user@]host/owner/name[.git]`, `ssh://git@host[:port]/owner/name.git`
        /// and `git@host:owner/name.git` give `https://host/owner/name`.
        public static func webPage(of location: String) -> String? {
            var rest: Substring
            if location.hasPrefix("https://") || location.hasPrefix("http://") {
                let scheme = location.hasPrefix("https://") ? "https://" : "http://"
                rest = location.dropFirst(scheme.count)
                if let at = rest.firstIndex(of: "@"), rest[..<at].firstIndex(of: "/") == nil { rest = rest[rest.index(after: at)...] }
                return page(scheme + rest)
            }
            if location.hasPrefix("ssh://") {
                rest = location.dropFirst("ssh://".count)
                if let at = rest.firstIndex(of: "@") { rest = rest[rest.index(after: at)...] }
                guard let slash = rest.firstIndex(of: "/") else { return nil }
                let host = rest[..<slash].split(separator: ":").first.map(String.init) ?? ""
                return page("https://" + host + rest[slash...])
            }
            // scp-like: user@host:owner/name.git
            if !location.contains("://"), let at = location.firstIndex(of: "@"), let colon = location[at...].firstIndex(of: ":") {
                return page("https://" + location[location.index(after: at)..<colon] + "/" + location[location.index(after: colon)...])
            }
            return nil
        }

        public static func page(_ url: String) -> String? {
            var url = url
            while url.hasSuffix("/") { url.removeLast() }
            if url.hasSuffix(".git") { url.removeLast(4) }
            // A host and at least owner/name.
            return url.split(separator: "/", omittingEmptySubsequences: true).count >= 4 ? url : nil
        }

        /// Where a person reviews `branch` against the followed one: the
        /// forge's compare page (GitHub, Gitea and Forgejo; GitLab's under
        /// `/-/`), which offers to open a pull request.
        public func review(_ branch: String) -> String? {
            guard let web else { return nil }
            let base = ref ?? "main"
            let compare = web.contains("gitlab") ? "/-/compare/" : "/compare/"
            return web + compare + base + "..." + branch
        }
    }

    let reconciler: Reconciler
    let status: ControllerStatus
    let wakeup: Wakeup
    let metrics: ControllerMetrics
    let tokens: TokenFile
    let webhookSecret: String?
    let source: FollowedSource
    let notifier: Notifier?
    /// Webhook deliveries handled lately: a replay starts nothing.
    let deliveries = RecentDeliveries()
    /// This process's key for the dashboard forms' CSRF tokens.
    let csrfKey: String = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()

    var store: StateStore { reconciler.store }

    public init(
        reconciler: Reconciler, status: ControllerStatus, wakeup: Wakeup, metrics: ControllerMetrics,
        tokens: TokenFile, webhookSecret: String? = nil, source: FollowedSource, notifier: Notifier? = nil
    ) {
        self.reconciler = reconciler
        self.status = status
        self.wakeup = wakeup
        self.metrics = metrics
        self.tokens = tokens
        self.webhookSecret = webhookSecret
        self.source = source
        self.notifier = notifier
    }

    public func router() -> Router<APIContext> {
        let router = Router(context: APIContext.self)
        // A server span per request, under the caller's traceparent; a
        // no-op unless the controller sends traces (--otlp-endpoint).
        router.add(middleware: TracingMiddleware())
        router.add(middleware: RequestMetrics(metrics: metrics))
        router.add(middleware: Authentication(tokens: tokens))
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ in
            let s = status.snapshot
            if s.stopping { throw APIError(.serviceUnavailable, "stopping") }
            if let since = s.degradedSince {
                // What serves keeps serving; the controller cannot follow Git
                // or record what it does until this clears.
                throw APIError(.serviceUnavailable, "degraded since \(since.ISO8601Format()): \(s.lastError ?? "reconciles fail")")
            }
            guard s.ready else { throw APIError(.serviceUnavailable, "no reconcile has fetched and planned yet") }
            return "ready\n"
        }
        router.get("/metrics") { [reconciler] _, _ in
            // Canaries move while a reconcile runs: read at each scrape.
            metrics.observe(canaries: reconciler.canaries.all)
            metrics.observe(objects: try objectInfos())
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
        }
        addReadRoutes(router)
        addActionRoutes(router)
        addWebhookRoutes(router)
        addDashboardRoutes(router)
        addDashboardActionRoutes(router)
        return router
    }

    public func application(
        host: String, port: Int, logger: Logger, limits: ConnectionLimits = ConnectionLimits(),
        tls: TLSFiles? = nil,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        Application(
            router: router(), server: try limits.server(tls: tls),
            configuration: .init(address: .hostname(host, port: port), serverName: "gantry"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }
}

/// Reads the bearer token (or the dashboard's login cookie) and records who
/// called; routes decide what the caller may do.
struct Authentication: RouterMiddleware {
    static let cookie = "gantry_token"
    let tokens: TokenFile

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        var context = context
        var offered: String?
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                offered = String(parts[1]).trimmingCharacters(in: .whitespaces)
            } else {
                context.rejectedCredential = true
            }
        } else if request.method == .get && !Self.isAPI(request.uri.path) || request.method == .post && Self.isDashboardAction(request.uri.path),
            let cookie = request.cookies[Self.cookie]?.value, !cookie.isEmpty
        {
            // The cookie is honoured for reading the dashboard's pages and
            // for its buttons, whose forms carry a CSRF token as well (and
            // the cookie is SameSite=Strict): a page on another site cannot
            // make a browser act with it. The API answers bearer tokens
            // alone, as documented.
            offered = cookie
        }
        if let offered {
            context.caller = tokens.authenticate(offered)
            context.rejectedCredential = context.caller == nil
        }
        return try await next(request, context)
    }

    /// Judged on the path as the router reads it: empty segments dropped,
    /// so `//api/v1/status` is the API too.
    static func isDashboardAction(_ path: String) -> Bool {
        path.split(separator: "/", omittingEmptySubsequences: true).first == "ui"
    }

    static func isAPI(_ path: String) -> Bool {
        let first = path.split(separator: "/", omittingEmptySubsequences: true).first
        return first == "api" || first == "metrics"
    }
}

/// Counts requests by method and status code.
struct RequestMetrics: RouterMiddleware {
    let metrics: ControllerMetrics

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            metrics.apiRequest(method: request.method.rawValue, status: response.status.code)
            return response
        } catch let error as HTTPResponseError {
            metrics.apiRequest(method: request.method.rawValue, status: error.status.code)
            throw error
        } catch {
            metrics.apiRequest(method: request.method.rawValue, status: 500)
            throw error
        }
    }
}
