import IsthmusCrypto
import IsthmusEvents
import IsthmusIP

/// An ESP tunnel endpoint: the outer address and, for NAT-T (RFC 3948), the UDP port.
public typealias ESPEndpoint = UDPEndpoint

/// Where protected packets of an SA go: outer source and destination, and whether ESP travels in
/// UDP (RFC 3948, port 4500) or as IP protocol 50.
public struct ESPTunnel: Sendable, Hashable {
    /// Our outer address (and NAT-T port).
    public var local: ESPEndpoint
    /// The peer's outer address (and NAT-T port, possibly translated by a NAT).
    public var remote: ESPEndpoint
    /// `true`: send ESP inside UDP from `local.port` to `remote.port` (RFC 3948 section 2.1).
    public var udpEncapsulated: Bool

    public init(local: ESPEndpoint, remote: ESPEndpoint, udpEncapsulated: Bool) {
        self.local = local
        self.remote = remote
        self.udpEncapsulated = udpEncapsulated
    }
}

/// Limits after which an SA is rekeyed (soft) or stops being used (hard): RFC 4301 section 4.4.2.1,
/// "SA lifetime", in time, bytes and packets. `nil` means no limit of that kind.
///
/// Bytes and packets are counted per direction; a limit reached in either direction applies to the
/// whole pair (IKE rekeys and deletes CHILD SAs as pairs, RFC 7296 section 1.3).
public struct ESPLifetime: Sendable, Hashable {
    /// Time since installation.
    public var time: Duration?
    /// Inner (plaintext) bytes protected or unprotected, per direction.
    public var bytes: UInt64?
    /// Packets protected or unprotected, per direction.
    public var packets: UInt64?

    public init(time: Duration? = nil, bytes: UInt64? = nil, packets: UInt64? = nil) {
        self.time = time
        self.bytes = bytes
        self.packets = packets
    }

    /// No limit at all.
    public static let unlimited = ESPLifetime()
}

/// The configuration of one CHILD SA pair as IKE negotiated it: both directions, the traffic it
/// protects and its lifetimes. The engine builds its per-SA crypto state from this once, at
/// ``ESPEngine/install(_:now:)``.
///
/// Keys follow RFC 7296 section 2.17: for AES-GCM and ChaCha20-Poly1305 the encryption key includes
/// the 4-byte salt (RFC 4106 section 8.1, RFC 7634 section 2); the integrity keys are empty for AEADs.
public struct ESPSecurityAssociation: Sendable {
    /// The SPI the peer puts on packets to us; our SAD key (RFC 4301 section 4.1).
    public var inboundSPI: UInt32
    /// The SPI we put on packets to the peer.
    public var outboundSPI: UInt32
    /// The encryption (or combined-mode) algorithm; its IKEv2 ID and key length pick the transform.
    public var encryption: Algorithm
    /// The integrity algorithm; `nil` for AEADs.
    public var integrity: Algorithm?
    /// 64-bit extended sequence numbers (RFC 4303 section 2.2.1).
    public var extendedSequenceNumbers: Bool
    public var inboundEncryptionKey: SecretBytes
    public var inboundIntegrityKey: SecretBytes
    public var outboundEncryptionKey: SecretBytes
    public var outboundIntegrityKey: SecretBytes
    /// Our side's traffic selectors (sources of outbound packets, destinations of inbound ones).
    public var localSelectors: [TrafficSelector]
    /// The peer side's traffic selectors (destinations of outbound packets, sources of inbound ones).
    public var remoteSelectors: [TrafficSelector]
    /// The outer endpoints.
    public var tunnel: ESPTunnel
    /// Limits that ask IKE for a rekey, reported once (RFC 4301 section 4.4.2.1).
    public var softLifetime: ESPLifetime
    /// Limits after which the SA is no longer used and is removed.
    public var hardLifetime: ESPLifetime
    /// The anti-replay window in packets (``ReplayWindow/defaultSize`` unless configured).
    public var replayWindowSize: Int
    /// The connection name, for events.
    public var connection: String
    /// When the outbound half starts carrying traffic (the one rule for IKEv1 and IKEv2).
    public var outboundStart: ESPOutboundStart = .now
    /// The data-plane interface whose SPD holds this pair's policy (RFC 4301 section 4.4.1 allows an SPD
    /// per interface): each route-based connection has an interface of its own, so several peers with
    /// the same selectors (0.0.0.0/0) each get their own traffic; 0 is the interface policy-based
    /// connections share. The daemon sets it; the IKE cores leave it alone.
    public var interface: Int = 0

    /// The last outbound sequence number already used; only tests start elsewhere than 0.
    var initialOutboundSequence: UInt64 = 0
    /// The highest inbound sequence number to assume received; only tests start elsewhere than 0.
    var initialInboundSequence: UInt64 = 0

    public init(
        inboundSPI: UInt32, outboundSPI: UInt32, encryption: Algorithm, integrity: Algorithm?,
        extendedSequenceNumbers: Bool, inboundEncryptionKey: SecretBytes, inboundIntegrityKey: SecretBytes,
        outboundEncryptionKey: SecretBytes, outboundIntegrityKey: SecretBytes, localSelectors: [TrafficSelector],
        remoteSelectors: [TrafficSelector], tunnel: ESPTunnel, softLifetime: ESPLifetime = .unlimited,
        hardLifetime: ESPLifetime = .unlimited, replayWindowSize: Int = ReplayWindow.defaultSize,
        connection: String = ""
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
        self.tunnel = tunnel
        self.softLifetime = softLifetime
        self.hardLifetime = hardLifetime
        self.replayWindowSize = replayWindowSize
        self.connection = connection
    }
}

/// When a newly installed SA pair's outbound half starts carrying traffic.
///
/// An SA must not carry traffic before the peer can decrypt it. Whoever answers an exchange that creates
/// an SA cannot know when the other side installed it: the IKEv1 Quick Mode responder answers before it
/// sees message 3, and the IKEv2 responder of a CHILD SA rekey answers before the initiator reads the
/// answer (RFC 7296 section 2.8: "the responder ... SHOULD wait until it receives traffic on the new SA").
/// Such a pair waits; while it waits, older pairs of its policy that can still send carry the traffic, and
/// when none can, packets are dropped (``ESPDropReason/awaitingPeer``) rather than sent into an SA the
/// peer may not have.
public enum ESPOutboundStart: Sendable, Hashable {
    /// From installation on, as the newest pair of its policy.
    case now
    /// Once the peer shows it has the keys: the first authenticated packet on the inbound half, or
    /// ``ESPSAChange/confirmOutbound(inboundSPI:)`` (the IKE core saw proof), or `fallback` after
    /// installation, whichever comes first.
    case afterPeersFirstPacket(fallback: Duration)
}

/// A change to the SAD: the one vocabulary in which the IKE cores tell the data plane what to install,
/// stop using and remove. The cores decide everything about the SA (keys, selectors, outer endpoints,
/// both lifetimes, when outbound traffic starts); the data plane only carries it out, in order.
public enum ESPSAChange: Sendable {
    /// Install an SA pair (``ESPEngine/install(_:now:)``).
    case install(ESPSecurityAssociation)
    /// Stop sending on the pair with this inbound SPI now (its DELETE is on its way); inbound keeps
    /// decrypting packets in flight until ``remove(inboundSPI:)``.
    case retireOutbound(inboundSPI: UInt32)
    /// The peer has the keys of this pair: a waiting outbound half (``ESPOutboundStart/afterPeersFirstPacket(fallback:)``)
    /// carries traffic from now on.
    case confirmOutbound(inboundSPI: UInt32)
    /// Remove both halves of the pair with this inbound SPI.
    case remove(inboundSPI: UInt32)
    /// Send the pair's outbound packets to `remote` from now on: the peer, behind a NAT, moved (its NAT
    /// rebound or its public address changed; RFC 7296 section 2.23, RFC 3948 section 2.1).
    case moveRemote(inboundSPI: UInt32, remote: UDPEndpoint)

    /// The inbound SPI the change is about.
    public var inboundSPI: UInt32 {
        switch self {
        case .install(let sa): sa.inboundSPI
        case .retireOutbound(let spi), .confirmOutbound(let spi), .remove(let spi), .moveRemote(let spi, _): spi
        }
    }
}

/// Why ``ESPEngine/install(_:now:)`` refused an SA pair. These are IKE-side or configuration errors,
/// never packet input.
public enum ESPInstallError: Error, Sendable, Equatable, CustomStringConvertible {
    /// SPI 0 is reserved (RFC 4303 section 2.1).
    case reservedSPI
    /// An inbound SA with this SPI is already installed.
    case duplicateInboundSPI(UInt32)
    /// Local or remote selectors are empty: the SA would protect nothing.
    case emptySelectors
    /// The replay window size is outside `1...ReplayWindow.maximumSize`.
    case invalidReplayWindow(Int)
    /// The crypto layer refused the algorithms or keys.
    case crypto(IsthmusCryptoError)
    /// The two directions' transforms disagree on IV or ICV length (a crypto-layer bug).
    case inconsistentTransforms

    public var description: String {
        switch self {
        case .reservedSPI: "SPI 0 is reserved (RFC 4303 section 2.1)"
        case .duplicateInboundSPI(let spi): "an inbound SA with SPI \(SAIdentifier.esp(spi)) is already installed"
        case .emptySelectors: "the SA has no local or no remote traffic selectors"
        case .invalidReplayWindow(let size): "replay window \(size) outside 1...\(ReplayWindow.maximumSize)"
        case .crypto(let error): "crypto: \(error)"
        case .inconsistentTransforms: "inbound and outbound transforms differ in IV or ICV length"
        }
    }
}
