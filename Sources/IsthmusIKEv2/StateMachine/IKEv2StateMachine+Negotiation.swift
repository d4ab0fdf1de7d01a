import IsthmusCrypto
import IsthmusIP
import IsthmusWire

/// The state machine's view of negotiation: our configured proposals and selectors against the
/// peer's SA and TS payloads (the rules themselves live in `Negotiation/`).
extension IKEv2StateMachine {
    func offerIKE() -> IKEv2SecurityAssociationPayload {
        IKEv2ProposalCodec.saPayload(for: configuration.ikeProposals, protocol: .ike, spi: [])
    }

    /// Our ESP proposals for a CHILD SA: with their PFS groups in CREATE_CHILD_SA, without in IKE_AUTH,
    /// which carries no KE payload (RFC 7296 section 1.2: no D-H transform other than NONE there).
    func espProposals(pfs: Bool) -> ProposalList {
        pfs ? configuration.espProposals : IKEv2ProposalCodec.withoutKeyExchange(configuration.espProposals)
    }

    func offerChild(spi: UInt32, pfs: Bool) -> IKEv2SecurityAssociationPayload {
        IKEv2ProposalCodec.saPayload(for: espProposals(pfs: pfs), protocol: .esp, spi: spi.bigEndianBytes)
    }

    /// Responder selection; with the group of the peer's KE payload preferred when both allow it, which
    /// saves an INVALID_KE_PAYLOAD round trip.
    func selectIKE(_ offered: IKEv2SecurityAssociationPayload, peerGroup: UInt16)
        -> Result<(NegotiatedIKESuite, IKEv2SecurityAssociationPayload), IKEv2NegotiationFailure>
    {
        IKEv2ProposalCodec.selectIKE(
            offered: offered, ours: configuration.ikeProposals, peerKeyExchangeGroup: peerGroup
        )
        .map { ($0.suite, $0.reply) }
    }

    func acceptIKE(_ response: IKEv2SecurityAssociationPayload) -> Result<NegotiatedIKESuite, IKEv2NegotiationFailure> {
        IKEv2ProposalCodec.acceptIKE(response: response, offered: configuration.ikeProposals).map(\.suite)
    }

    func selectChild(_ offered: IKEv2SecurityAssociationPayload, ourSPI: UInt32, pfs: Bool, peerGroup: UInt16?)
        -> Result<(NegotiatedChildSuite, UInt32, IKEv2SecurityAssociationPayload), IKEv2NegotiationFailure>
    {
        IKEv2ProposalCodec.selectChild(
            offered: offered, ours: espProposals(pfs: pfs), localSPI: ourSPI.bigEndianBytes,
            peerKeyExchangeGroup: peerGroup
        ).map { ($0.suite, UInt32(bigEndianBytes: $0.peerSPI), $0.reply) }
    }

    func acceptChild(_ response: IKEv2SecurityAssociationPayload, pfs: Bool)
        -> Result<(NegotiatedChildSuite, UInt32), IKEv2NegotiationFailure>
    {
        IKEv2ProposalCodec.acceptChild(response: response, offered: espProposals(pfs: pfs))
            .map { ($0.suite, UInt32(bigEndianBytes: $0.peerSPI)) }
    }

    /// Responder narrowing: TSi is the initiator's side (our remote), TSr ours (section 2.9).
    func narrowSelectors(initiator: [TrafficSelector], responder: [TrafficSelector])
        -> (initiator: [TrafficSelector], responder: [TrafficSelector])?
    {
        IKEv2TrafficSelectorNegotiation.narrow(
            initiatorOffered: initiator, responderOffered: responder, ourLocal: configuration.localSelectors,
            ourRemote: configuration.remoteSelectors)
    }

    /// Initiator check: the responder may narrow what we proposed, never widen it.
    func acceptSelectors(returnedInitiator: [TrafficSelector], returnedResponder: [TrafficSelector]) -> Bool {
        IKEv2TrafficSelectorNegotiation.accept(
            initiatorOffered: configuration.localSelectors, responderOffered: configuration.remoteSelectors,
            returnedInitiator: returnedInitiator, returnedResponder: returnedResponder)
    }

    func selectors(_ payload: IKEv2TrafficSelectorPayload) -> [TrafficSelector] {
        IKEv2TrafficSelectorNegotiation.trafficSelectors(from: payload)
    }

    func tsPayload(_ selectors: [TrafficSelector]) -> IKEv2TrafficSelectorPayload {
        IKEv2TrafficSelectorNegotiation.payload(for: selectors)
    }

    func describeSelectors(_ selectors: [TrafficSelector]) -> String {
        IKEv2TrafficSelectorNegotiation.describe(selectors)
    }
}
