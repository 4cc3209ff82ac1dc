import Hummingbird
import HummingbirdCore
import NIOCore
import Synchronization

/// What a listener allows each connection: a client that opens connections
/// and sends nothing, or a request head one byte at a time, is cut off
/// instead of being held open for ever.
///
///     let limits = ConnectionLimits()   // 512 connections, 10 s for a request head, 30 s idle
///     Application(router: router, server: limits.http1(), configuration: …)
public struct ConnectionLimits: Sendable {
    /// Connections served at once; more are closed as they arrive.
    public var maximumConnections: Int
    /// How long a new connection has to deliver its first request head.
    public var headTimeout: Duration
    /// How long a connection may sit between requests.
    public var idleTimeout: Duration

    let open = OpenConnections()

    public init(maximumConnections: Int = 512, headTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(30)) {
        self.maximumConnections = maximumConnections
        self.headTimeout = headTimeout
        self.idleTimeout = idleTimeout
    }

    /// Connections open now.
    public var openConnections: Int { open.count.load(ordering: .relaxed) }

    /// HTTP/1.1 with these limits.
    public func http1() -> HTTPServerBuilder {
        let limits = self
        return .http1(
            configuration: .init(
                additionalChannelHandlers: [ConnectionGuard(limits: limits)],
                idleTimeout: .nanoseconds(
                    Int64(idleTimeout.components.seconds) * 1_000_000_000
                        + Int64(idleTimeout.components.attoseconds / 1_000_000_000))))
    }
}

final class OpenConnections: Sendable {
    let count = Atomic<Int>(0)
}

/// Counts the connection against the cap, and closes it when no request
/// head arrived in time. It sits after HTTP decoding, so the first read it
/// sees is a complete request head.
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Never

    let limits: ConnectionLimits
    var counted = false
    var deadline: Scheduled<Void>?

    init(limits: ConnectionLimits) { self.limits = limits }

    func handlerAdded(context: ChannelHandlerContext) {
        let now = limits.open.count.wrappingAdd(1, ordering: .relaxed).newValue
        counted = true
        guard now <= limits.maximumConnections else {
            context.close(promise: nil)
            return
        }
        let channel = context.channel
        let timeout = limits.headTimeout
        deadline = context.eventLoop.scheduleTask(
            in: .nanoseconds(
                Int64(timeout.components.seconds) * 1_000_000_000
                    + Int64(timeout.components.attoseconds / 1_000_000_000))
        ) {
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        if counted { limits.open.count.wrappingSubtract(1, ordering: .relaxed) }
        counted = false
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelRead(data)
    }
}
