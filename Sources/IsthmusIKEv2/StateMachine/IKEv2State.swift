import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusWire

/// The SPIs of an IKE SA and which end of it we are; both change when the IKE SA is rekeyed (the
/// rekey's initiator initiates the new SA, RFC 7296 section 2.18).
struct IKEv2SPIs: Sendable {
    var initiator: UInt64
    var responder: UInt64
    var role: IKERole

    /// The SPI that identifies this SA on our side (the shell routes by it).
    var local: UInt64 { role == .initiator ? initiator : responder }
    /// The peer's SPI, zero until IKE_SA_INIT is answered.
    var remote: UInt64 { role == .initiator ? responder : initiator }
}

/// How messages of one IKE SA are protected (section 3.14): its suite and keys, the counter that
/// makes AEAD IVs unique, and whether the peer takes fragments (RFC 7383).
struct IKEv2MessageProtection: Sendable {
    let suite: NegotiatedIKESuite
    let crypto: IKEv2SACrypto
    let peerSupportsFragmentation: Bool
    /// AEAD IVs for our SK payloads: a counter never repeats under one key (RFC 5282 section 3.1).
    var ivCounter: UInt64 = 0

    init(suite: NegotiatedIKESuite, crypto: IKEv2SACrypto, peerSupportsFragmentation: Bool) {
        self.suite = suite
        self.crypto = crypto
        self.peerSupportsFragmentation = peerSupportsFragmentation
    }

    /// Seals `inner` into an SK payload with a fresh IV, or into SKF fragments when the peer supports
    /// them and the message would exceed `fragmentSize` (nil: never fragment).
    mutating func seal(
        _ header: IKEv2Message, _ inner: [IKEv2Payload], fragmentSize: Int?, random: inout some RandomNumberGenerator
    ) -> [[UInt8]]? {
        let isAEAD = suite.encryption.isAEAD
        var counter = ivCounter
        defer { ivCounter = counter }
        // Called once per SK payload or fragment: every call takes the next counter value.
        let ivSource: (inout [UInt8]) -> Void = { iv in
            if isAEAD {
                counter &+= 1
                for index in iv.indices {
                    iv[index] = UInt8(truncatingIfNeeded: counter >> (8 * (iv.count - 1 - index)))
                }
            } else {
                random.fill(&iv[...])
            }
        }
        if peerSupportsFragmentation, let fragmentSize {
            return try? crypto.sealFragments(
                header: header, inner: inner, maximumSize: fragmentSize, ivSource: ivSource)
        }
        return (try? crypto.seal(header: header, inner: inner, ivSource: ivSource)).map { [$0] }
    }
}

/// What the AUTH payloads of IKE_AUTH sign (section 2.15): both IKE_SA_INIT messages as sent, and
/// the nonces, which also key the CHILD SA of IKE_AUTH.
struct IKEv2InitialMessages: Sendable {
    let request: [UInt8]
    let response: [UInt8]
    let nonceInitiator: [UInt8]
    let nonceResponder: [UInt8]
}

extension IKEv2StateMachine {
    /// Where the IKE SA is, each phase with the data it has (and nothing it does not have yet).
    enum State {
        /// Nothing sent or received yet.
        case idle
        /// We sent IKE_SA_INIT (its nonce and key share belong to the exchange in flight).
        case connecting
        /// We sent IKE_AUTH.
        case authenticating(AuthenticatingState)
        /// We answered IKE_SA_INIT and wait for IKE_AUTH.
        case halfOpen(HalfOpenState)
        case established(IKEv2EstablishedSA)
        /// Our DELETE of the IKE SA is in flight.
        case deleting(DeletingState)
        case closed(ClosedState)

        /// The phase as `status` shows it.
        var phase: IKESAState {
            switch self {
            case .idle: .idle
            case .connecting: .connecting
            case .authenticating: .authenticating
            case .halfOpen: .halfOpen
            case .established: .established
            case .deleting: .deleting
            case .closed: .closed
            }
        }
    }

    /// Initiator: IKE_SA_INIT is done, our IKE_AUTH is in flight.
    struct AuthenticatingState {
        var protection: IKEv2MessageProtection
        let initialMessages: IKEv2InitialMessages
    }

    /// Responder: IKE_SA_INIT answered, the initiator not yet authenticated.
    struct HalfOpenState {
        var protection: IKEv2MessageProtection
        let initialMessages: IKEv2InitialMessages
        /// The EAP phase (section 2.16) once a client's IKE_AUTH came without AUTH: IKE_AUTH exchanges carry EAP
        /// until the client's AUTH with the MSK; nil before that and for peers with AUTH in their first IKE_AUTH.
        var eap: EAPResponderExchange? = nil
    }

    /// Our DELETE of the IKE SA is in flight; the CHILD SAs are gone already.
    struct DeletingState {
        var sa: IKEv2EstablishedSA
        /// Whether the connection is negotiated again once the SA is closed (nil: as the role says).
        var restart: Bool?

        init(_ previousState: IKEv2EstablishedSA, restart: Bool?) {
            sa = previousState
            self.restart = restart
        }
    }

    /// The SA is gone; what `status` still shows of it.
    struct ClosedState {
        let suite: NegotiatedIKESuite?
        let establishedAt: MonotonicTime?
        let rekeyAt: MonotonicTime?
    }
}
