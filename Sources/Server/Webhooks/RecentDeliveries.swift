import Crypto
import Synchronization

/// The webhook deliveries seen lately, so a captured delivery sent again
/// starts nothing. A delivery is known by its body's digest (what the
/// signature covers; the delivery-id header is not signed, so an attacker
/// could change it) and by the provider's delivery id, which a forge keeps
/// when it redelivers. The last `capacity` of each are kept.
///
///     guard deliveries.firstTime(provider: "github", id: request.headers["X-GitHub-Delivery"], body: body) else { … already handled … }
final class RecentDeliveries: Sendable {
    private struct Seen {
        var order: [String] = []
        var set: Set<String> = []
    }

    private let seen = Mutex(Seen())
    let capacity: Int

    init(capacity: Int = 4096) { self.capacity = capacity }

    /// Records the delivery; false when its body or its id was seen before.
    /// `bodyIsUnique` says whether a body names what it announces (a
    /// forge's push names its commit); a body that may legitimately repeat
    /// (a generic push without `after`) is known by its id alone.
    func firstTime(provider: String, id: String?, body: [UInt8], bodyIsUnique: Bool = true) -> Bool {
        let keys =
            (bodyIsUnique ? ["\(provider) body:" + SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()] : [])
            + (id.map { $0.isEmpty ? [] : ["\(provider) id:" + $0] } ?? [])
        guard !keys.isEmpty else { return true }
        return seen.withLock { seen in
            guard !keys.contains(where: seen.set.contains) else { return false }
            for key in keys {
                seen.set.insert(key)
                seen.order.append(key)
            }
            if seen.order.count > capacity * 2 {
                let dropped = seen.order.prefix(seen.order.count - capacity * 2)
                seen.set.subtract(dropped)
                seen.order.removeFirst(dropped.count)
            }
            return true
        }
    }
}
