#if canImport(Glibc)
    import Glibc
#endif

/// An IPv4 `host:port` pair, used both for the stable address a deployment
/// publishes and for the ephemeral loopback port of each serving process.
///
/// It is encoded as a single `"host:port"` string rather than an object so the
/// control files stay readable and can be edited or inspected with `cat`.
///
/// ```swift
/// let stable = Endpoint(parsing: "127.0.0.1:8700")!
/// let backend = Endpoint(host: "127.0.0.1", port: try freeLoopbackPort())
/// print(stable)            // 127.0.0.1:8700
/// ```
public struct Endpoint: Sendable, Hashable, Codable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Accepts `a.b.c.d:port` and `localhost:port`. `localhost` is normalised
    /// to `127.0.0.1` so that two spellings of the same address compare equal,
    /// which matters because the forwarder keys its connection counts by the
    /// textual form. Port 0 is rejected: an address that changes on every
    /// bind cannot be stable, nor can a client connect to it.
    public init?(parsing text: String) {
        guard let parsed = Endpoint.parse(text, allowZeroPort: false) else { return nil }
        self = parsed
    }

    public var description: String { "\(host):\(port)" }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        // Port 0 is allowed here, unlike in `init?(parsing:)`: the memberwise
        // initialiser can build such a value (meaning "any free port") and
        // whatever this type encodes must decode again.
        guard let parsed = Endpoint.parse(text, allowZeroPort: true) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "not an IPv4 host:port endpoint: \(text)")
        }
        self = parsed
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    private static func parse(_ text: String, allowZeroPort: Bool) -> Endpoint? {
        let parts = text.trimmingWhitespace().split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        var host = String(parts[0])
        let portText = parts[1]
        guard !portText.isEmpty, portText.count <= 5,
            portText.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = Int(portText), value <= Int(UInt16.max),
            value > 0 || allowZeroPort
        else { return nil }
        if host.lowercased() == "localhost" { host = "127.0.0.1" }
        guard Endpoint.ipv4Address(host) != nil else { return nil }
        return Endpoint(host: host, port: UInt16(value))
    }

    /// The binary IPv4 address in network byte order, or nil when `host` is not
    /// a dotted quad (hostnames other than `localhost` are deliberately not
    /// resolved: a forwarder must never block on DNS).
    static func ipv4Address(_ host: String) -> in_addr? {
        let name = host.lowercased() == "localhost" ? "127.0.0.1" : host
        var addr = in_addr()
        guard inet_pton(AF_INET, name, &addr) == 1 else { return nil }
        return addr
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
