/// The sender's sequence number counter of one outbound SA (RFC 4303 section 3.3.3).
///
/// The first packet carries 1. Without extended sequence numbers the counter must never cycle: after
/// 2^32 - 1 the SA is exhausted and IKE must have rekeyed it; with ESN the same holds at 2^64 - 1
/// (RFC 4303 section 3.3.3, "the sender's counter ... MUST NOT be allowed to cycle").
public struct OutboundSequence: Sendable, Hashable {
    /// Packets left before exhaustion at which the SA asks for a rekey (soft lifetime): 2^24 packets
    /// is about 16 seconds at 1 Mpps, enough for a CREATE_CHILD_SA round trip or several.
    public static let softMargin: UInt64 = 1 << 24

    /// Whether the SA uses 64-bit extended sequence numbers (RFC 4303 section 2.2.1).
    public let extendedSequenceNumbers: Bool
    /// The last sequence number handed out (0 before the first packet).
    public private(set) var last: UInt64

    /// The largest sequence number this SA may send.
    public var maximum: UInt64 { extendedSequenceNumbers ? UInt64.max : UInt64(UInt32.max) }

    /// Creates a counter; `last` is the number already used (0 for a new SA; tests start near 2^32).
    public init(extendedSequenceNumbers: Bool, last: UInt64 = 0) {
        self.extendedSequenceNumbers = extendedSequenceNumbers
        self.last = min(last, extendedSequenceNumbers ? UInt64.max : UInt64(UInt32.max))
    }

    /// Whether every sequence number has been used.
    public var isExhausted: Bool { last >= maximum }

    /// Whether fewer than ``softMargin`` numbers are left.
    public var isNearExhaustion: Bool { maximum - last <= OutboundSequence.softMargin }

    /// The next sequence number, or `nil` when the SA is exhausted (drop the packet; never wrap).
    public mutating func next() -> UInt64? {
        guard last < maximum else { return nil }
        last += 1
        return last
    }
}
