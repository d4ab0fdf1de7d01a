/// Why the ESP engine dropped a packet; every drop is counted per reason, per SA and per engine.
public enum ESPDropReason: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// No inbound SA has the packet's SPI (RFC 4303 section 3.4.2: discard, auditable event).
    case unknownSPI
    /// The sequence number was already received (RFC 4303 section 3.4.3).
    case replayed
    /// The sequence number lies left of the replay window, or is 0.
    case tooOld
    /// The ICV did not verify (RFC 4303 section 3.4.4); no plaintext was exposed.
    case integrityFailure
    /// The decrypted padding is not 1, 2, 3, ... or longer than the payload (RFC 4303 section 2.4).
    case badPadding
    /// The Next Header is neither IPv4 (4) nor IPv6 (41) in tunnel mode (RFC 4303 section 2.6).
    case badNextHeader
    /// Shorter than header, IV, trailer and ICV, or not a whole number of cipher blocks.
    case truncated
    /// Larger than an IP packet can be, or the result does not fit the caller's buffer.
    case oversized
    /// The inner packet's addresses, protocol or ports are outside the SA's traffic selectors
    /// (RFC 4301 section 5.2, step 4).
    case selectorMismatch
    /// No policy covers an outbound packet: dropped, never sent in clear (RFC 4301 section 5.1).
    case noPolicy
    /// The SA reached its hard lifetime (time, bytes or packets) and is no longer used.
    case saExpired
    /// The outbound sequence number would cycle (RFC 4303 section 3.3.3): the SA needs a rekey.
    case sequenceExhausted
    /// The inner packet is not a well-formed IPv4 or IPv6 packet (version, header or length).
    case malformedInnerPacket
    /// The crypto backend failed while sealing (a library error, not packet input).
    case cryptoFailure
    /// The only SA for an outbound packet is held until the peer shows it has the keys (an IKEv1 Quick
    /// Mode responder before message 3); see ``ESPOutboundStart``.
    case awaitingPeer

    public var description: String {
        switch self {
        case .unknownSPI: "unknown-spi"
        case .replayed: "replayed"
        case .tooOld: "too-old"
        case .integrityFailure: "integrity-failure"
        case .badPadding: "bad-padding"
        case .badNextHeader: "bad-next-header"
        case .truncated: "truncated"
        case .oversized: "oversized"
        case .selectorMismatch: "selector-mismatch"
        case .noPolicy: "no-policy"
        case .saExpired: "sa-expired"
        case .sequenceExhausted: "sequence-exhausted"
        case .malformedInnerPacket: "malformed-inner-packet"
        case .cryptoFailure: "crypto-failure"
        case .awaitingPeer: "awaiting-peer"
        }
    }
}

/// One counter per ``ESPDropReason``, stored inline (no allocation when counting).
public struct ESPDropCounters: Sendable, Hashable, CustomStringConvertible {
    private var unknownSPI: UInt64 = 0
    private var replayed: UInt64 = 0
    private var tooOld: UInt64 = 0
    private var integrityFailure: UInt64 = 0
    private var badPadding: UInt64 = 0
    private var badNextHeader: UInt64 = 0
    private var truncated: UInt64 = 0
    private var oversized: UInt64 = 0
    private var selectorMismatch: UInt64 = 0
    private var noPolicy: UInt64 = 0
    private var saExpired: UInt64 = 0
    private var sequenceExhausted: UInt64 = 0
    private var malformedInnerPacket: UInt64 = 0
    private var cryptoFailure: UInt64 = 0
    private var awaitingPeer: UInt64 = 0

    public init() {}

    /// The number of packets dropped for `reason`.
    public subscript(reason: ESPDropReason) -> UInt64 {
        get {
            switch reason {
            case .unknownSPI: unknownSPI
            case .replayed: replayed
            case .tooOld: tooOld
            case .integrityFailure: integrityFailure
            case .badPadding: badPadding
            case .badNextHeader: badNextHeader
            case .truncated: truncated
            case .oversized: oversized
            case .selectorMismatch: selectorMismatch
            case .noPolicy: noPolicy
            case .saExpired: saExpired
            case .sequenceExhausted: sequenceExhausted
            case .malformedInnerPacket: malformedInnerPacket
            case .cryptoFailure: cryptoFailure
            case .awaitingPeer: awaitingPeer
            }
        }
        set {
            switch reason {
            case .unknownSPI: unknownSPI = newValue
            case .replayed: replayed = newValue
            case .tooOld: tooOld = newValue
            case .integrityFailure: integrityFailure = newValue
            case .badPadding: badPadding = newValue
            case .badNextHeader: badNextHeader = newValue
            case .truncated: truncated = newValue
            case .oversized: oversized = newValue
            case .selectorMismatch: selectorMismatch = newValue
            case .noPolicy: noPolicy = newValue
            case .saExpired: saExpired = newValue
            case .sequenceExhausted: sequenceExhausted = newValue
            case .malformedInnerPacket: malformedInnerPacket = newValue
            case .cryptoFailure: cryptoFailure = newValue
            case .awaitingPeer: awaitingPeer = newValue
            }
        }
    }

    /// Adds one drop for `reason` (wrapping, never trapping).
    public mutating func count(_ reason: ESPDropReason) {
        self[reason] = self[reason] &+ 1
    }

    /// All drops together.
    public var total: UInt64 {
        ESPDropReason.allCases.reduce(0) { $0 &+ self[$1] }
    }

    /// The non-zero counters, `reason=count` separated by spaces.
    public var description: String {
        let parts = ESPDropReason.allCases.filter { self[$0] != 0 }.map { "\($0)=\(self[$0])" }
        return parts.isEmpty ? "none" : parts.joined(separator: " ")
    }
}
