import IsthmusIP

/// A protected packet ready to send: where it lies in the caller's buffer and where it goes.
public struct ESPOutboundPacket: Sendable, Hashable {
    /// The ESP packet (header through ICV) inside the buffer passed to `encapsulate`.
    public var range: Range<Int>
    /// The SPI written into the header.
    public var outboundSPI: UInt32
    /// The full (64-bit with ESN) sequence number used.
    public var sequenceNumber: UInt64
    /// Outer endpoints and whether to wrap the packet in UDP (RFC 3948).
    public var tunnel: ESPTunnel
}

/// What ``ESPEngine/encapsulate(innerPacketAt:in:now:)`` produced.
public enum ESPEncapsulationResult: Sendable, Hashable {
    /// Send `buffer[packet.range]` to `packet.tunnel.remote`.
    case packet(ESPOutboundPacket)
    /// Nothing was produced; the reason was counted. Never send the inner packet in clear.
    case drop(ESPDropReason)
}

/// A decapsulated inner packet: where it lies in the caller's buffer.
public struct ESPInboundPacket: Sendable, Hashable {
    /// The inner IP packet inside the buffer passed to `decapsulate` (TFC padding removed).
    public var range: Range<Int>
    /// IPv4 or IPv6 (from the Next Header field, checked against the IP version).
    public var family: IPFamily
    /// The SA it arrived on.
    public var inboundSPI: UInt32
    /// Its authenticated 64-bit sequence number.
    public var sequenceNumber: UInt64
    /// The data-plane interface of its SA (``ESPSecurityAssociation/interface``): where it is delivered.
    public var interface: Int = 0
    /// The inner packet's addresses, protocol and ports, as checked against the SA's selectors.
    public var header: InnerPacket
}

/// What ``ESPEngine/decapsulate(espPacket:now:)`` produced.
public enum ESPDecapsulationResult: Sendable, Hashable {
    /// Deliver `buffer[packet.range]` (after ACLs) to the TUN device.
    case packet(ESPInboundPacket)
    /// An authenticated dummy packet (Next Header 59, RFC 4303 section 2.6): discard silently.
    case dummy(inboundSPI: UInt32)
    /// Dropped; the reason was counted. The buffer holds no unauthenticated plaintext.
    case drop(ESPDropReason)
}

/// Packets and inner bytes through one direction of an SA.
public struct ESPTrafficCounters: Sendable, Hashable {
    public var packets: UInt64 = 0
    /// Inner (plaintext IP packet) bytes.
    public var bytes: UInt64 = 0

    public init(packets: UInt64 = 0, bytes: UInt64 = 0) {
        self.packets = packets
        self.bytes = bytes
    }
}

/// One connection's traffic through the engine since start: every SA pair it had, removed ones included
/// (for `status` and per-connection metrics). Bytes are inner (plaintext IP packet) bytes.
public struct ESPConnectionTraffic: Sendable, Hashable, Codable {
    public var packetsIn: UInt64 = 0
    public var bytesIn: UInt64 = 0
    public var packetsOut: UInt64 = 0
    public var bytesOut: UInt64 = 0

    public init(packetsIn: UInt64 = 0, bytesIn: UInt64 = 0, packetsOut: UInt64 = 0, bytesOut: UInt64 = 0) {
        self.packetsIn = packetsIn
        self.bytesIn = bytesIn
        self.packetsOut = packetsOut
        self.bytesOut = bytesOut
    }

    /// Adds an SA pair's counters.
    mutating func add(inbound: ESPTrafficCounters, outbound: ESPTrafficCounters) {
        packetsIn &+= inbound.packets
        bytesIn &+= inbound.bytes
        packetsOut &+= outbound.packets
        bytesOut &+= outbound.bytes
    }
}

/// A snapshot of one installed SA pair's state and counters (for `status` and metrics).
public struct ESPSAStatistics: Sendable, Hashable {
    public var inboundSPI: UInt32
    public var outboundSPI: UInt32
    public var connection: String
    public var installedAt: Duration
    public var inbound: ESPTrafficCounters
    public var outbound: ESPTrafficCounters
    public var inboundDrops: ESPDropCounters
    public var outboundDrops: ESPDropCounters
    /// Authenticated dummy packets discarded (RFC 4303 section 2.6).
    public var dummyPackets: UInt64
    /// The last outbound sequence number used.
    public var lastOutboundSequence: UInt64
    /// The highest authenticated inbound sequence number.
    public var highestInboundSequence: UInt64
    /// The soft limit reached so far, if any.
    public var softLifetimeReached: ESPLifetimeEvent.Trigger?
    /// The hard limit reached, if any (the pair is removed at the next ``ESPEngine/tick(now:)``).
    public var hardLifetimeReached: ESPLifetimeEvent.Trigger?
}

/// The engine's view of the policy database: one entry per distinct selector pair, in match order.
public struct ESPPolicy: Sendable, Hashable {
    /// The interface whose SPD holds the entry.
    public var interface: Int
    public var localSelectors: [TrafficSelector]
    public var remoteSelectors: [TrafficSelector]
    /// Inbound SPIs of the SA pairs sharing this policy, oldest first; the newest usable one's
    /// outbound half protects new packets (make-before-break rekeying).
    public var inboundSPIs: [UInt32]
}

/// A result that can be a drop (lets the engine count drops in one place).
protocol ESPDropResult {
    static func drop(_ reason: ESPDropReason) -> Self
}

extension ESPEncapsulationResult: ESPDropResult {}
extension ESPDecapsulationResult: ESPDropResult {}
