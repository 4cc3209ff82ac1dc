import Foundation
import GantryTestSupport
import Synchronization
import Testing

@testable import StableAddress

#if canImport(Glibc)
    import Glibc
#endif

/// Tallies from the client loop in `continuousTrafficAcrossSwitchHasNoFailures`.
private struct Tally: Sendable {
    var fromA = 0
    var fromB = 0
    var failures: [String] = []
}

/// Shared between the test body and the client threads.
private final class Traffic: Sendable {
    let tally = Mutex(Tally())
    let done = Atomic<Bool>(false)
}

@Suite(.serialized, .timeLimit(.minutes(1)))
struct SwitchTests {
    @Test func newConnectionsFollowSwitchWhileOldOneStays() async throws {
        let a = try TestBackend(.taggedLines("A"))
        let b = try TestBackend(.taggedLines("B"))
        defer {
            a.stop()
            b.stop()
        }
        let (forwarder, control, dir) = try startForwarder(backend: a.endpoint)
        defer {
            forwarder.stop()
            removeDirectory(dir)
        }

        let old = try TestClient(forwarder.endpoint)
        defer { old.close() }
        #expect(old.send("one\n"))
        #expect(await blocking { old.readLine() } == "A:one")

        try control.setBackend(b.endpoint)
        // The very next accept must already see the new file, even before the
        // forwarder's timer has had a chance to notice it.
        let fresh = try TestClient(forwarder.endpoint)
        defer { fresh.close() }
        #expect(fresh.send("two\n"))
        #expect(await blocking { fresh.readLine() } == "B:two")
        try await control.waitUntilServing(b.endpoint, timeout: .seconds(10))

        // The connection opened before the switch still talks to A.
        #expect(old.send("three\n"))
        #expect(await blocking { old.readLine() } == "A:three")
        #expect(fresh.send("four\n"))
        #expect(await blocking { fresh.readLine() } == "B:four")
    }

    @Test func timerPicksUpSwitchWithoutTraffic() async throws {
        let a = try TestBackend(.taggedLines("A"))
        let b = try TestBackend(.taggedLines("B"))
        defer {
            a.stop()
            b.stop()
        }
        let (forwarder, control, dir) = try startForwarder(backend: a.endpoint)
        defer {
            forwarder.stop()
            removeDirectory(dir)
        }
        #expect(control.status()?.backend == a.endpoint)
        try control.setBackend(b.endpoint)
        try await control.waitUntilServing(b.endpoint, timeout: .seconds(10))
        #expect(forwarder.backend == b.endpoint)
        #expect(control.status()?.accepted == 0)
    }

    @Test func statusCountsOpenConnectionsAndDrainWaitsForThem() async throws {
        let a = try TestBackend(.taggedLines("A"))
        let b = try TestBackend(.taggedLines("B"))
        defer {
            a.stop()
            b.stop()
        }
        let (forwarder, control, dir) = try startForwarder(backend: a.endpoint)
        defer {
            forwarder.stop()
            removeDirectory(dir)
        }

        let old = try TestClient(forwarder.endpoint)
        defer { old.close() }
        #expect(old.send("x\n"))
        #expect(await blocking { old.readLine() } == "A:x")
        try await eventually("the old connection is counted open", timeout: .seconds(10)) { control.status()?.openConnections(to: a.endpoint) == 1 }

        try control.setBackend(b.endpoint)
        try await control.waitUntilServing(b.endpoint, timeout: .seconds(10))
        let fresh = try TestClient(forwarder.endpoint)
        defer { fresh.close() }
        #expect(fresh.send("y\n"))
        #expect(await blocking { fresh.readLine() } == "B:y")

        let status = try #require(control.status())
        #expect(status.openConnections(to: a.endpoint) == 1)
        #expect(status.openConnections(to: b.endpoint) == 1)
        #expect(status.accepted == 2)
        #expect(status.backend == b.endpoint)

        // While the old connection is open, drain gives up and reports it.
        #expect(await control.drain(a.endpoint, timeout: .milliseconds(200)) == 1)
        old.close()
        #expect(await control.drain(a.endpoint, timeout: .seconds(10)) == 0)
        #expect(control.status()?.openConnections(to: b.endpoint) == 1)
    }

    /// The controller's whole switch sequence under load: start B, point the
    /// forwarder at it, drain A, stop A, while a client keeps making requests.
    @Test func continuousTrafficAcrossSwitchHasNoFailures() async throws {
        let a = try TestBackend(.http("A"))
        let b = try TestBackend(.http("B"))
        defer {
            a.stop()
            b.stop()
        }
        let (forwarder, control, dir) = try startForwarder(backend: a.endpoint)
        defer {
            forwarder.stop()
            removeDirectory(dir)
        }

        let traffic = Traffic()
        defer { traffic.done.store(true, ordering: .releasing) }  // the clients stop should the test end early
        let target = forwarder.endpoint
        // Several clients at once, so connections are mid-flight at the
        // moment of the switch and while A is being drained.
        let workers = (0..<4).map { _ in
            Task {
                await blocking {
                    var iterations = 0
                    while !traffic.done.load(ordering: .acquiring) && iterations < 20_000 {
                        iterations += 1
                        let result = httpExchange(target)
                        traffic.tally.withLock { t in
                            switch result {
                            case .success("A"): t.fromA += 1
                            case .success("B"): t.fromB += 1
                            case .success(let other): t.failures.append("unexpected body \(other)")
                            case .failure(let f): t.failures.append(f.reason)
                            }
                        }
                    }
                }
            }
        }

        try await eventually("A answered 200 requests", timeout: .seconds(20)) { traffic.tally.withLock { $0.fromA >= 200 } }
        try control.setBackend(b.endpoint)
        try await control.waitUntilServing(b.endpoint, timeout: .seconds(10))
        #expect(await control.drain(a.endpoint, timeout: .seconds(10)) == 0)
        let fromAAtDrain = traffic.tally.withLock { $0.fromA }
        a.stop()
        let fromBAtStop = traffic.tally.withLock { $0.fromB }
        try await eventually("B answered 200 more", timeout: .seconds(20)) { traffic.tally.withLock { $0.fromB >= fromBAtStop + 200 } }
        traffic.done.store(true, ordering: .releasing)
        for worker in workers { await worker.value }

        let final = traffic.tally.withLock { $0 }
        #expect(final.failures.isEmpty, "\(final.failures.count) failures, first: \(final.failures.prefix(3))")
        #expect(final.fromA == fromAAtDrain, "A answered after it was drained")
        #expect(final.fromB >= 200)
        #expect(control.status()?.accepted == final.fromA + final.fromB + final.failures.count)
    }
}
