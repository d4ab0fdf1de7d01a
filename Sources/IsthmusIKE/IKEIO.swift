import IsthmusCrypto
import IsthmusESP
import IsthmusEvents
import IsthmusIP

/// An IKE message on the wire, without the RFC 3948 non-ESP marker: the I/O shell strips the marker
/// on receipt and adds it when sending from or to port 4500.
public struct IKEDatagram: Sendable, Hashable {
    public var bytes: [UInt8]
    public var source: UDPEndpoint
    public var destination: UDPEndpoint

    public init(bytes: [UInt8], source: UDPEndpoint, destination: UDPEndpoint) {
        self.bytes = bytes
        self.source = source
        self.destination = destination
    }
}

/// Timers a core asks the shell to arm; each fires back as an input with the same identifier.
public enum IKETimer: Sendable, Hashable {
    /// Resend the outstanding request (exponential backoff, then give up).
    case retransmit(messageID: UInt32)
    /// Time to rekey the IKE SA (soft lifetime, with jitter).
    case rekeyIKESA
    /// Time to rekey a CHILD SA, named by its inbound SPI.
    case rekeyChildSA(inboundSPI: UInt32)
    /// Hard expiry of a CHILD SA's old inbound half after a rekey (make-before-break).
    case expireChildSA(inboundSPI: UInt32)
    /// Idle time elapsed: send a liveness check.
    case liveness
    /// NAT keepalive (RFC 3948 section 2.3) when we are behind a NAT.
    case natKeepalive
    /// Half-open or other timeout after which the SA is abandoned.
    case abandon
    /// Start the next queued exchange (IKEv1 spaces its Quick Modes, see `quickModeSpacing`).
    case startQueuedExchange
}

/// The lifetimes of a CHILD SA's ESP pair, decided once by the IKE core that negotiated it.
public enum ChildSALifetimes {
    /// The soft byte limit lies at a random fraction in this range of the hard one (per mille): both peers
    /// count the same bytes, and equal limits would make them rekey at once (a collision, RFC 7296
    /// section 2.8.1).
    public static let softBytesPerMille: ClosedRange<UInt64> = 800...900

    /// Soft and hard limits for an ESP pair: the soft time is the core's rekey time (it rekeys on its own
    /// timer too), the hard limits are the negotiated ones; the soft byte limit is jittered (a random
    /// number is drawn only when there is a byte limit).
    public static func esp(
        softTime: Duration, hardTime: Duration, hardBytes: UInt64?, random: inout some RandomNumberGenerator
    ) -> (soft: ESPLifetime, hard: ESPLifetime) {
        let softBytes = hardBytes.map { $0 / 1000 * UInt64.random(in: softBytesPerMille, using: &random) }
        return (ESPLifetime(time: softTime, bytes: softBytes), ESPLifetime(time: hardTime, bytes: hardBytes))
    }
}

/// What a protocol core asks the I/O shell to do. Cores return these; they never perform I/O.
public enum IKEAction: Sendable {
    case send(IKEDatagram)
    /// Send one NAT-keepalive byte (0xFF, no non-ESP marker) on UDP 4500 (RFC 3948 section 2.3).
    case natKeepalive(source: UDPEndpoint, destination: UDPEndpoint)
    /// A change to the ESP SAD (install, stop sending, confirm, remove), carried out by the data plane in
    /// the order the cores emit them.
    case childSA(ESPSAChange)
    case armTimer(IKETimer, at: MonotonicTime)
    case cancelTimer(IKETimer)
    case event(GatewayEvent)
    /// The IKE SA is finished; the shell forgets it (its SPIs no longer route). With `restart`, the
    /// connection should be negotiated again (liveness restart, end of lifetime, a failed attempt of
    /// ours); without, it stays down (deleted by the peer or on request, a half-open SA abandoned).
    case ikeSAClosed(restart: Bool)
}
