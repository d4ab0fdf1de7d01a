import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusWire

/// The SAs and exchanges one IKEv1 connection keeps: ISAKMP SAs (phase 1), Quick Modes in flight, IPsec SAs,
/// and the messages awaiting an answer.
extension IKEv1StateMachine {
    /// A message of ours that expects an answer, resent until it comes.
    struct Retransmission {
        var messageID: UInt32
        var bytes: [UInt8]
        var attempts: Int = 0
        var nextAt: MonotonicTime
    }

    /// One ISAKMP SA (phase 1), from Main Mode message 1 to its deletion.
    struct ISAKMPSA {
        enum Phase: String {
            case sentMM1 = "connecting", sentMM3 = "exchanging keys", sentMM5 = "authenticating"
            case repliedMM2 = "half-open", repliedMM4 = "half-open, keys exchanged"
            case established
        }

        var role: Role
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
        /// Duplicate detection: a repeat of the peer's last message gets our last message again.
        var lastReceived: [UInt8]?
        var lastSent: [UInt8]?
        var lastDuplicateAnswer: MonotonicTime?
        var retransmission: Retransmission?
        var peerSupportsNATT = false
        var peerSupportsDPD = false
        var natLocal = false
        var natRemote = false
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
        var role: Role
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
        var lastReceived: [UInt8]?
        var lastSent: [UInt8]?
        var lastDuplicateAnswer: MonotonicTime?
        var retransmission: Retransmission?
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
    struct IPsecSA {
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
