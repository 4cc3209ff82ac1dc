import Foundation
import GantryTestSupport
import Synchronization
import Testing

@testable import StableAddress

#if canImport(Glibc)
    import Glibc
#endif

/// The forwarder routes HTTP/1.x per request: by weight, around a dead
/// backend, and a kept-alive client follows a switch at its next request.
// Three minutes: 2,000 requests one after another take seconds alone and
// over a minute on a loaded two-core machine (the whole suite at once).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct HTTPRoutingTests {
    @Test func weightsSplitRequestsAndStatsCountThem() async throws {
        let stable = try TestBackend(.keepAlive("old", failEvery: 0))
        let canary = try TestBackend(.keepAlive("new", failEvery: 5))
        defer {
            stable.stop()
            canary.stop()
        }
        let (forwarder, control, dir) = try startForwarder(backend: nil)
        defer {
            forwarder.stop()
            removeDirectory(dir)
        }
        for weight in [10, 50] {
            let routes = [Route(stable.endpoint, weight: 100 - weight), Route(canary.endpoint, weight: weight)]
            try control.setRoutes(routes)
            try await control.waitUntilRouting(routes, timeout: .seconds(10))
            let before = try #require(control.status())
            // Half the requests on one kept-alive connection, half on a
            // connection each: both are routed per request.
            let (fromCanary, failed) = await blocking { () -> (Int, Int) in
                var fromCanary = 0
                var failed = 0
                guard let kept = try? KeepAliveClient(forwarder.endpoint) else { return (0, 1000) }
                defer { kept.close() }
                for i in 0..<1000 {
                    let client = i % 2 == 0 ? kept : try? KeepAliveClient(forwarder.endpoint)
                    defer { if i % 2 == 1 { client?.close() } }
                    guard let answer = client?.get() else { return (fromCanary, 1000) }
                    if answer.body == "new" { fromCanary += 1 }
                    if answer.status != 200 { failed += 1 }
                }
                return (fromCanary, failed)
            }
            #expect(abs(Double(fromCanary) / 10 - Double(weight)) <= 5, "weight \(weight): \(fromCanary) of 1000 went to the canary")
            // The canary's backend fails every fifth of its requests, and
            // the forwarder's own counts say so.
            #expect(failed == fromCanary / 5)
            try await eventually("the status counts the 1,000 requests", timeout: .seconds(10)) {
                let now = control.status()
                return now.map {
                    $0.stats(for: stable.endpoint).since(before.stats(for: stable.endpoint)).requests
                        + $0.stats(for: canary.endpoint).since(before.stats(for: canary.endpoint)).requests
                } == 1000
            }
            let window = try #require(control.status()).stats(for: canary.endpoint).since(before.stats(for: canary.endpoint))
            #expect(window.requests == fromCanary)
            #expect(window.failures == failed)
            #expect(window.errorRate.map { abs($0 - 0.2) < 0.02 } == true)
            #expect(window.quantile(0.99).map { $0 <= 10 } == true)
        }
        #expect(control.status()?.backend == stable.endpoint)
        #expect(control.backend() == nil, "a split has no single backend")
    }

    @Test func keptAliveClientFollowsASwitchWithoutAFailure() async throws {
        let a = try TestBackend(.keepAlive("A", failEvery: 0))
        let b = try TestBackend(.keepAlive("B", failEvery: 0))
        defer {
            a.stop()
            b.stop()
        }
        let (forwarder, control, dir) = try startForwarder(backend: a.endpoint)
        defer {
            forwarder.stop()
            removeDirectory(dir)
        }
        let client = try KeepAliveClient(forwarder.endpoint)
        defer { client.close() }
        #expect(await blocking { client.get()?.body } == "A")
        try await eventually("the idle connection holds no count on A", timeout: .seconds(10)) {
            control.status()?.openConnections(to: a.endpoint) == 0
        }
        try control.setBackend(b.endpoint)
        try await control.waitUntilServing(b.endpoint, timeout: .seconds(10))
        // Nothing is in flight to A, so it drains at once and may stop.
        #expect(await control.drain(a.endpoint, timeout: .seconds(1)) == 0)
        a.stop()
        let answers = await blocking { (0..<20).map { _ in client.get()?.body } }
        #expect(answers == Array(repeating: "B", count: 20), "the same connection: \(answers)")
        #expect(control.status()?.accepted == 1)
    }

    @Test func aDeadBackendIsTakenOutOfRotation() async throws {
        let a = try TestBackend(.keepAlive("A", failEvery: 0))
        let b = try TestBackend(.keepAlive("B", failEvery: 0))
        defer { b.stop() }
        let (forwarder, control, dir) = try startForwarder(backend: nil)
        defer {
            forwarder.stop()
            removeDirectory(dir)
        }
        let routes = [Route(a.endpoint, weight: 1), Route(b.endpoint, weight: 1)]
        try control.setRoutes(routes)
        try await control.waitUntilRouting(routes, timeout: .seconds(10))
        let kept = try KeepAliveClient(forwarder.endpoint)
        defer { kept.close() }
        let before = await blocking { (0..<10).compactMap { _ in kept.get()?.body } }
        #expect(before.filter { $0 == "A" }.count == 5)
        a.stop()
        // Killed between requests: the kept connection to A is found closed
        // and the request goes elsewhere; new connections skip A.
        let after = await blocking { () -> [String?] in
            (0..<40).map { i in
                if i % 2 == 0 { return kept.get()?.body }
                guard let fresh = try? KeepAliveClient(forwarder.endpoint) else { return nil }
                defer { fresh.close() }
                return fresh.get()?.body
            }
        }
        #expect(after == Array(repeating: "B", count: 40), "\(after)")
    }

    @Test func rejectsMalformedRouteFiles() {
        #expect(
            Route.parse("127.0.0.1:1 50\n127.0.0.1:2 50\n") == [
                Route(Endpoint(host: "127.0.0.1", port: 1), weight: 50), Route(Endpoint(host: "127.0.0.1", port: 2), weight: 50),
            ])
        #expect(Route.parse("127.0.0.1:1\n") == [Route(Endpoint(host: "127.0.0.1", port: 1), weight: 1)])
        #expect(Route.parse("127.0.0.1:1 0\n") == nil, "no route takes requests")
        #expect(Route.parse("127.0.0.1:1 5\n127.0.0.1:1 5\n") == nil, "a backend named twice")
        #expect(Route.parse("127.0.0.1:1 ten\n") == nil)
        #expect(Route.parse("127.0.0.1:1 5 6\n") == nil)
    }

    @Test func quantilesReadTheBucketBound() {
        var stats = BackendStats()
        for _ in 0..<98 { stats.record(seconds: 0.003, failed: false) }
        stats.record(seconds: 0.3, failed: true)
        stats.record(seconds: 20, failed: true)
        #expect(stats.quantile(0.5) == 0.005)
        #expect(stats.quantile(0.99) == 0.5)
        #expect(stats.quantile(1) == .infinity)
        #expect(stats.errorRate == 0.02)
        #expect(stats.since(stats).requests == 0)
        #expect(stats.since(BackendStats(requests: 500)) == stats, "a restarted forwarder's counts start again")
    }
}
