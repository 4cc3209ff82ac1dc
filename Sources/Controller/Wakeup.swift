import Foundation

/// Wakes the reconcile loop before its interval is up: a webhook push or an
/// operator's "refresh now". Requests that arrive while a reconcile runs
/// coalesce into one more reconcile right after it.
///
///     let wakeup = Wakeup()
///     wakeup.request("webhook github push to main")
///     let request = await wakeup.wait(upTo: .seconds(30))  // returns at once
public final class Wakeup: @unchecked Sendable {
    public struct Request: Sendable {
        public var reason: String
        /// When the first of the coalesced requests arrived.
        public var requestedAt: ContinuousClock.Instant
    }

    private let lock = NSLock()
    private var pending: Request?
    private var waiter: (id: Int, continuation: CheckedContinuation<Request?, Never>)?
    private var nextID = 0
    /// A wait whose time ran out before it started waiting.
    private var expiredEarly: Int?
    private var stopped = false
    private var accepted = 0

    public init() {}

    /// How many requests were accepted so far: a request path that answers
    /// without asking for a reconcile leaves it unchanged at the moment it
    /// answers, with nothing to wait for.
    public var requests: Int {
        lock.lock()
        defer { lock.unlock() }
        return accepted
    }

    /// Asks for a reconcile now. Returns false once the loop is stopping.
    @discardableResult
    public func request(_ reason: String, at instant: ContinuousClock.Instant = .now) -> Bool {
        lock.lock()
        if stopped {
            lock.unlock()
            return false
        }
        accepted += 1
        let request = pending ?? Request(reason: reason, requestedAt: instant)
        if let waiter {
            self.waiter = nil
            lock.unlock()
            waiter.continuation.resume(returning: request)
        } else {
            pending = request
            lock.unlock()
        }
        return true
    }

    /// Ends every wait at once, and refuses further requests.
    public func stop() {
        lock.lock()
        stopped = true
        let waiter = self.waiter
        self.waiter = nil
        lock.unlock()
        waiter?.continuation.resume(returning: nil)
    }

    public var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    /// Waits until a request arrives (returned), `duration` passes or the
    /// loop stops (nil).
    public func wait(upTo duration: Duration) async -> Request? {
        let id: Int = lock.withLock {
            nextID += 1
            return nextID
        }
        let timer = Task {
            guard (try? await Task.sleep(for: duration)) != nil else { return }
            self.expire(id)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            lock.lock()
            if let request = pending {
                pending = nil
                lock.unlock()
                continuation.resume(returning: request)
            } else if stopped || expiredEarly == id {
                expiredEarly = nil
                lock.unlock()
                continuation.resume(returning: nil)
            } else {
                waiter = (id, continuation)
                lock.unlock()
            }
        }
    }

    private func expire(_ id: Int) {
        lock.lock()
        guard let waiter, waiter.id == id else {
            if waiter == nil { expiredEarly = id }
            lock.unlock()
            return
        }
        self.waiter = nil
        lock.unlock()
        waiter.continuation.resume(returning: nil)
    }
}
