import IsthmusESP

/// The live state the diagram colours a connection by.
public enum ConnectionState: String, Sendable, Hashable, Codable {
    /// An established IKE SA with at least one CHILD SA: traffic can flow.
    case up
    /// Negotiating: an IKE SA on its way, or established without a CHILD SA yet.
    case connecting
    /// No IKE SA, or only one being deleted.
    case down

    /// The state of a connection whose IKE SAs are in `ikeSAs` (each SA's `status` state and its number of
    /// CHILD SAs).
    public static func of(_ ikeSAs: [(state: String, childSAs: Int)]) -> ConnectionState {
        var best = ConnectionState.down
        for sa in ikeSAs {
            switch sa.state {
            case "established", "rekeying":
                if sa.childSAs > 0 { return .up }
                best = .connecting
            case "connecting", "authenticating", "half-open", "idle":
                best = .connecting
            default:
                break
            }
        }
        return best
    }
}

/// The part of a `status` answer the dashboard reads itself (the page gets the whole answer): each
/// connection's IKE SAs and the data plane's traffic per connection.
struct StatusDigest: Decodable {
    struct Connection: Decodable {
        var name: String
        var ikeSAs: [IKESA]?
    }
    struct IKESA: Decodable {
        var state: String
        var childSAs: [ChildSA]?
    }
    struct ChildSA: Decodable {}
    struct Plane: Decodable {
        var connections: [String: ESPConnectionTraffic]?
    }

    var ok: Bool?
    var connections: [Connection]?
    var dataplane: Plane?

    /// Every connection's state, by name.
    var states: [String: ConnectionState] {
        var result: [String: ConnectionState] = [:]
        for connection in connections ?? [] {
            result[connection.name] = ConnectionState.of(
                (connection.ikeSAs ?? []).map { ($0.state, $0.childSAs?.count ?? 0) })
        }
        return result
    }
}

/// One sample of a connection's traffic: when (milliseconds since the Unix epoch) and the counters then.
public struct TrafficSample: Sendable, Hashable, Codable {
    public var time: Int64
    public var packetsIn: UInt64
    public var bytesIn: UInt64
    public var packetsOut: UInt64
    public var bytesOut: UInt64

    public init(time: Int64, counters: ESPConnectionTraffic) {
        self.time = time
        packetsIn = counters.packetsIn
        bytesIn = counters.bytesIn
        packetsOut = counters.packetsOut
        bytesOut = counters.bytesOut
    }
}

/// The last ``capacity`` samples of each connection's traffic (one a second: ten minutes), for the chart a
/// connection's page opens with. Bounded: at most ``maximumConnections`` connections are kept.
public struct TrafficHistory: Sendable {
    public static let maximumConnections = 256
    public let capacity: Int
    private var samples: [String: [TrafficSample]] = [:]

    public init(capacity: Int = 600) {
        self.capacity = max(2, capacity)
    }

    /// Adds one sample per connection in `counters`; connections that are no longer counted are forgotten.
    public mutating func record(_ counters: [String: ESPConnectionTraffic], time: Int64) {
        for name in samples.keys where counters[name] == nil { samples[name] = nil }
        for (name, value) in counters {
            guard samples[name] != nil || samples.count < Self.maximumConnections else { continue }
            var list = samples[name, default: []]
            list.append(TrafficSample(time: time, counters: value))
            if list.count > capacity { list.removeFirst(list.count - capacity) }
            samples[name] = list
        }
    }

    /// A connection's samples, oldest first.
    public func samples(of connection: String) -> [TrafficSample] { samples[connection] ?? [] }

    /// Bytes a second in and out between the last two samples of `connection` (nil with fewer than two).
    public func rate(of connection: String) -> (bytesIn: Double, bytesOut: Double)? {
        let list = samples(of: connection)
        guard list.count >= 2 else { return nil }
        let last = list[list.count - 1]
        let previous = list[list.count - 2]
        let seconds = Double(last.time - previous.time) / 1000
        guard seconds > 0 else { return nil }
        // A counter that went back (the connection was removed and added again) counts from zero.
        func delta(_ now: UInt64, _ before: UInt64) -> Double { now >= before ? Double(now - before) : Double(now) }
        return (delta(last.bytesIn, previous.bytesIn) / seconds, delta(last.bytesOut, previous.bytesOut) / seconds)
    }
}
