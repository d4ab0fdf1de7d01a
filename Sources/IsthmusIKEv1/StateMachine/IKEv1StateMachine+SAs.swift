import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusWire

/// The SAs and exchanges one IKEv1 connection keeps: ISAKMP SAs (phase 1), Quick Modes in flight, IPsec SAs,
/// and R-U-THERE checks. A message of ours awaiting an answer is an ``IKERetransmission`` (Main Mode under
/// message ID 0, a Quick Mode under its own), our answer to the peer's last message an ``IKECachedResponse``.
extension IKEv1StateMachine {
    /// One ISAKMP SA (phase 1), from Main Mode message 1 to its deletion.
    struct ISAKMPSA: NegotiatedLifetime {
        enum Phase: String {
            case sentMM1 = "connecting", sentMM3 = "exchanging keys", sentMM5 = "authenticating"
            case repliedMM2 = "half-open", repliedMM4 = "half-open, keys exchanged"
            case established
        }

        var role: IKERole
        var cookieI: UInt64
        var cookieR: UInt64
        var phase: Phase
        var startedAt: MonotonicTime
        /// Whether this SA replaces an established one (phase 1 rekey).
        var isRekey: Bool
        /// The body of the initiator's SA payload as sent (HASH_I and HASH_R cover it).
        var initiatorSABody: [UInt8] = []
        var suite: IKEv1Phase1Suite?
        var exchange: (any DiffieHellmanExchange)?
        var publicI: [UInt8] = []
        var publicR: [UInt8] = []
        var nonceI: [UInt8] = []
        var nonceR: [UInt8] = []
        var crypto: IKEv1SACrypto?
        /// The running IV of Main Mode messages 5 and 6.
        var iv: [UInt8] = []
        /// The last ciphertext block of phase 1: the seed of every later exchange's IV.
        var lastPhase1Block: [UInt8] = []
        /// Duplicate detection: a repeat of the peer's last message (by its bytes) gets our answer again.
        var answered: IKECachedResponse<MessageDigest>?
        var lastDuplicateAnswer: MonotonicTime?
        /// Our message awaiting the peer's next (message ID 0).
        var retransmission: IKERetransmission?
        var peerSupportsNATT = false
        var peerSupportsDPD = false
        var nat = NATDetectionResult.none
        var lifetime = IKEv1Lifetime(seconds: nil)
        var lifetimeReason = ""
        var establishedAt: MonotonicTime?
        var rekeyAt: MonotonicTime?
        var expiresAt: MonotonicTime?
        /// The pre-shared key mismatch event is logged once per SA, not per retransmission.
        var reportedKeyMismatch = false
        /// A replaced SA of ours waiting for its delete (see replacedISAKMPSADeleteDelay).
        var retireAt: MonotonicTime?

        var ourCookie: UInt64 { role == .initiator ? cookieI : cookieR }
        var isEstablished: Bool { phase == .established }
        var ids: [String] { ["ike " + SAIdentifier.ike(cookieI) + "/" + SAIdentifier.ike(cookieR)] }
    }

    /// One Quick Mode exchange (RFC 2409 section 5.5), kept a while after it finished for duplicates.
    struct QuickMode {
        enum State { case sentQM1, repliedQM2, done }

        var messageID: UInt32
        var cookieI: UInt64
        var cookieR: UInt64
        var role: IKERole
        var state: State
        var pair: SelectorPair
        /// The inbound SPI of the IPsec SA this one replaces (a rekey).
        var replacing: UInt32?
        var ourSPI: UInt32
        var peerSPI: UInt32 = 0
        var nonceI: [UInt8] = []
        var nonceR: [UInt8] = []
        var exchange: (any DiffieHellmanExchange)?
        var sharedSecret: SecretBytes?
        var suite: IKEv1ESPSuite?
        var iv: [UInt8]
        /// A repeat of the peer's last message (by its bytes) gets our answer again.
        var answered: IKECachedResponse<MessageDigest>?
        var lastDuplicateAnswer: MonotonicTime?
        /// Our message awaiting the peer's next (under this Quick Mode's message ID).
        var retransmission: IKERetransmission?
        var lifetime = IKEv1Lifetime(seconds: nil)
        var lifetimeReason = ""
        /// What the peer proposed or announced, for the lifetime event.
        var peerLifetime: IKEv1Lifetime?
        var startedAt: MonotonicTime
        var finishedAt: MonotonicTime?
        /// Responder: the IPsec SA installed with message 2, outbound held until message 3.
        var preinstalled: ESPSecurityAssociation?
    }

    /// An installed IPsec SA pair.
    struct IPsecSA: NegotiatedLifetime {
        var parameters: ESPSecurityAssociation
        var suite: IKEv1ESPSuite
        var pair: SelectorPair
        var installedAt: MonotonicTime
        var rekeyAt: MonotonicTime?
        var expiresAt: MonotonicTime
        var lifetime: IKEv1Lifetime
        var lifetimeReason: String
        /// A newer SA for the same pair exists; this one only drains until deleted or expired.
        var rekeyed = false

        var inboundSPI: UInt32 { parameters.inboundSPI }
    }

    /// An R-U-THERE of ours awaiting its ACK (RFC 3706 section 5.3).
    struct DeadPeerCheck {
        var startedAt: MonotonicTime
        var firstSequence: UInt32
        var sequence: UInt32
        var messageID: UInt32
        var attempts: Int
    }
}

/// An SA whose lifetime was negotiated (an ISAKMP SA, an IPsec SA), and why it is what it is.
protocol NegotiatedLifetime {
    var lifetime: IKEv1Lifetime { get set }
    var lifetimeReason: String { get set }
}

extension NegotiatedLifetime {
    /// Adopts the peer's RESPONDER-LIFETIME where it is shorter (RFC 2407 section 4.6.3.1) and returns the
    /// new lifetime in time; nil when it changes nothing (or names no seconds).
    mutating func adoptResponderLifetime(_ announced: IKEv1Lifetime) -> Duration? {
        let adopted = lifetime.smaller(announced)
        guard adopted != lifetime, let seconds = adopted.seconds else { return nil }
        lifetime = adopted
        lifetimeReason = "the peer's RESPONDER-LIFETIME"
        return .seconds(Int64(clamping: seconds))
    }
}

extension IKEv1StateMachine {
    /// Most IPsec SAs one session holds: 32 pairs of selectors, each while it is rekeyed (the old SA waits
    /// for its end). strongSwan sets no limit; a peer's Quick Modes past it are refused.
    static let maximumIPsecSAs = 64

    /// Why a peer's Quick Mode must be refused before any work on it: the session is full, or the peer's SPI
    /// is already used by one of its IPsec SAs (a Delete names it: two would be ambiguous). Nil otherwise.
    func ipsecSARefusal(peerSPI: UInt32) -> String? {
        let pending = quickModes.values.filter { $0.state != .done }.count
        if ipsecSAs.count + pending >= Self.maximumIPsecSAs {
            return "this ISAKMP SA already holds \(ipsecSAs.count) IPsec SAs (at most \(Self.maximumIPsecSAs))"
        }
        if ipsecSAs.contains(where: { $0.parameters.outboundSPI == peerSPI }) {
            return "peer's SPI \(SAIdentifier.esp(peerSPI)) is already used by one of its IPsec SAs"
        }
        return nil
    }
}
