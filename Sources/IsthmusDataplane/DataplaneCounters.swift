import IsthmusESP

/// Counters of the userspace data plane, as `status --json` shows them.
public struct DataplaneCounters: Sendable, Codable, Hashable {
    /// The TUN devices attached, one per interface (`isthmus0`, `ist-cloud-br1`, ...).
    public var interfaces: [String] = []
    /// Whether the data-plane thread is running (nil from a data plane that does not say).
    public var running: Bool?
    /// Why the data-plane thread stopped without being told to (nil while it runs).
    public var failure: String?
    /// Inner packets read from the TUN, protected and sent (ESP packets and their ESP bytes).
    public var espPacketsOut: UInt64 = 0
    public var espBytesOut: UInt64 = 0
    /// ESP packets received, decrypted and written to the TUN (and their ESP bytes).
    public var espPacketsIn: UInt64 = 0
    public var espBytesIn: UInt64 = 0
    /// Packets read from the TUN (whether or not they could be sent).
    public var tunPacketsRead: UInt64 = 0
    /// SA pairs installed in the engine now.
    public var installedSAs: Int = 0
    /// Traffic per connection (inner packets and bytes, every SA it had): what `espPackets*` count, by
    /// connection.
    public var connections: [String: ESPConnectionTraffic] = [:]
    /// Dropped packets by reason: the engine's (`unknown-spi`, `integrity-failure`, `no-policy`, ...)
    /// and the data plane's own (`command-queue-full`, `ike-handoff-full`, `queue-full`, `raw-esp-unsupported`, `tun-write-error`, `install-failed`,
    /// `send-error`, `truncated-datagram`, `invalid-nat-t`).
    public var drops: [String: UInt64] = [:]
    /// Soft and hard lifetime events reported by the engine.
    public var lifetimeEvents: UInt64 = 0
    /// IKE messages and NAT keepalives that arrived on the NAT-T socket (handed to IKE / counted).
    public var ikeMessagesIn: UInt64 = 0
    public var natKeepalivesIn: UInt64 = 0
    /// Trains of equal-sized ESP datagrams handed to the kernel as one send (UDP GSO), and the
    /// datagrams in them.
    public var segmentationTrains: UInt64 = 0
    public var segmentedDatagrams: UInt64 = 0
    /// TCP SYNs whose MSS was lowered, and ICMP "too big" answers sent for packets that did not fit.
    public var mssClamped: UInt64 = 0
    /// Decrypted TCP segments merged into one TUN write (receive offload), and those writes.
    public var coalescedSegments: UInt64 = 0
    public var coalescedWrites: UInt64 = 0
    /// TCP super-packets read from the TUN (segmentation offload) and cut into segments here.
    public var tcpSegmentationReads: UInt64 = 0
    /// Endpoint ACL decisions per endpoint: one count per rule, then packets no rule matched (denied),
    /// then replies let through to a port-less endpoint (``EndpointFilter``).
    public var aclHits: [String: [UInt64]] = [:]
    public var icmpTooBigSent: UInt64 = 0
    /// System calls that moved datagrams (`recvmmsg`, `sendmmsg`) and the datagrams they moved:
    /// datagrams per call is the batching actually achieved.
    public var receiveCalls: UInt64 = 0
    public var datagramsReceived: UInt64 = 0
    public var sendCalls: UInt64 = 0
    public var datagramsSent: UInt64 = 0

    public init() {}
}
