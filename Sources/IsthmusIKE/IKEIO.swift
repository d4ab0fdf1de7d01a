import IsthmusCrypto
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

/// The keys and parameters of one CHILD SA (IPsec SA pair), handed to the ESP engine.
public struct ChildSAParameters: Sendable {
    /// The SPI peers put on packets to us.
    public var inboundSPI: UInt32
    /// The SPI we put on packets to the peer.
    public var outboundSPI: UInt32
    public var encryption: Algorithm
    /// Nil for AEAD ciphers.
    public var integrity: Algorithm?
    public var extendedSequenceNumbers: Bool
    public var inboundEncryptionKey: SecretBytes
    public var inboundIntegrityKey: SecretBytes
    public var outboundEncryptionKey: SecretBytes
    public var outboundIntegrityKey: SecretBytes
    /// Local and remote traffic selectors as negotiated (tunnel mode).
    public var localSelectors: [TrafficSelector]
    public var remoteSelectors: [TrafficSelector]
    /// Tunnel endpoints (outer addresses and ports); UDP encapsulation when `udpEncapsulated`.
    public var local: UDPEndpoint
    public var remote: UDPEndpoint
    public var udpEncapsulated: Bool
    /// Soft (rekey) and hard lifetimes in time and volume.
    public var softLifetime: Duration
    public var hardLifetime: Duration
    public var hardLifetimeBytes: UInt64?
    /// For the responder of a rekey: keep sending on the SA this one replaces until the first packet
    /// arrives on this one, i.e. until the initiator has switched (RFC 7296 section 2.8), so that
    /// nothing is sent on an SA the initiator has not installed yet.
    public var sendAfterFirstInbound = false
    /// Nil: the outbound half carries traffic at once. Else it is held (older SAs of the same selectors keep
    /// carrying traffic) until the peer shows it has the keys: its first packet on the inbound half,
    /// ``IKEAction/releaseChildSAOutbound(inboundSPI:)``, or this long after installation, whichever first.
    /// IKEv1 Quick Mode uses it: the responder installs when it answers (so it can receive at once) and
    /// sends after message 3; the initiator holds a rekeyed SA until the responder has installed it.
    public var outboundHold: Duration? = nil

    public init(
        inboundSPI: UInt32, outboundSPI: UInt32, encryption: Algorithm, integrity: Algorithm?,
        extendedSequenceNumbers: Bool, inboundEncryptionKey: SecretBytes, inboundIntegrityKey: SecretBytes,
        outboundEncryptionKey: SecretBytes, outboundIntegrityKey: SecretBytes, localSelectors: [TrafficSelector],
        remoteSelectors: [TrafficSelector], local: UDPEndpoint, remote: UDPEndpoint, udpEncapsulated: Bool,
        softLifetime: Duration, hardLifetime: Duration, hardLifetimeBytes: UInt64?
    ) {
        self.inboundSPI = inboundSPI
        self.outboundSPI = outboundSPI
        self.encryption = encryption
        self.integrity = integrity
        self.extendedSequenceNumbers = extendedSequenceNumbers
        self.inboundEncryptionKey = inboundEncryptionKey
        self.inboundIntegrityKey = inboundIntegrityKey
        self.outboundEncryptionKey = outboundEncryptionKey
        self.outboundIntegrityKey = outboundIntegrityKey
        self.localSelectors = localSelectors
        self.remoteSelectors = remoteSelectors
        self.local = local
        self.remote = remote
        self.udpEncapsulated = udpEncapsulated
        self.softLifetime = softLifetime
        self.hardLifetime = hardLifetime
        self.hardLifetimeBytes = hardLifetimeBytes
    }
}

/// What a protocol core asks the I/O shell to do. Cores return these; they never perform I/O.
public enum IKEAction: Sendable {
    case send(IKEDatagram)
    /// Send one NAT-keepalive byte (0xFF, no non-ESP marker) on UDP 4500 (RFC 3948 section 2.3).
    case natKeepalive(source: UDPEndpoint, destination: UDPEndpoint)
    case installChildSA(ChildSAParameters)
    /// Remove both halves of a CHILD SA (by our inbound SPI).
    case removeChildSA(inboundSPI: UInt32)
    /// Stop sending on a CHILD SA now (we are deleting it); its inbound half keeps decrypting packets
    /// in flight until `removeChildSA`.
    case retireChildSAOutbound(inboundSPI: UInt32)
    /// The peer has the keys of this CHILD SA: its outbound half may carry traffic now (ends a
    /// ``ChildSAParameters/outboundHold``).
    case releaseChildSAOutbound(inboundSPI: UInt32)
    case armTimer(IKETimer, at: MonotonicTime)
    case cancelTimer(IKETimer)
    case event(GatewayEvent)
    /// The IKE SA is finished; the shell forgets it (its SPIs no longer route). With `restart`, the
    /// connection should be negotiated again (liveness restart, end of lifetime, a failed attempt of
    /// ours); without, it stays down (deleted by the peer or on request, a half-open SA abandoned).
    case ikeSAClosed(restart: Bool)
}
