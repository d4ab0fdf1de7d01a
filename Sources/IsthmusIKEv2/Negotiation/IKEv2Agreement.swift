import IsthmusCrypto
import IsthmusWire

extension IKEv2ProposalCodec {
    /// ESP proposals without their DH groups, for the CHILD SA of IKE_AUTH, which carries no KE payload
    /// (RFC 7296 section 1.2: no D-H transform other than NONE there); proposals that become equal are
    /// kept once. A list whose proposals name no group is returned as it is.
    public static func withoutKeyExchange(_ list: ProposalList) -> ProposalList {
        let stripped = list.proposals.compactMap { proposal -> Proposal? in
            guard !proposal.keyExchange.isEmpty else { return proposal }
            let words = (proposal.encryption + proposal.integrity + proposal.extendedSequenceNumbers).map(\.keyword)
            return try? Proposal(parsing: words.joined(separator: "-"), for: .esp, version: .v2)
        }
        var unique: [Proposal] = []
        for proposal in stripped where !unique.contains(proposal) { unique.append(proposal) }
        return unique.isEmpty ? list : ProposalList(unique)
    }
}

/// What two IKEv2 ends will agree on, worked out before either runs: the initiator's SA payload as this
/// core builds it, the responder's selection (``IKEv2ProposalCodec/selectIKE(offered:ours:localSPI:peerKeyExchangeGroup:)``)
/// and the initiator's check of the answer. `isthmus check A B` uses it, so the prediction is the
/// negotiation itself, not a copy of its rules.
public enum IKEv2Agreement {
    /// The IKE SA an initiator offering `initiator` and a responder accepting `responder` agree on.
    public struct IKESA: Sendable, Hashable {
        public let suite: NegotiatedIKESuite
        /// The group of the initiator's KE payload (the first group of its first proposal), when the
        /// responder chose another: one INVALID_KE_PAYLOAD round trip before the IKE SA is set up.
        public let retriedFrom: Algorithm?
    }

    /// The IKE SA suite (IKE_SA_INIT), or nil when no proposal matches.
    ///
    /// The responder tries its own proposals in its order against the initiator's in theirs and takes,
    /// within each transform type, its most preferred algorithm the initiator offers; the group of the
    /// initiator's KE payload wins within the chosen proposal when both allow it.
    public static func ikeSA(initiator: ProposalList, responder: ProposalList) -> IKESA? {
        let offer = IKEv2ProposalCodec.saPayload(for: initiator, protocol: .ike, spi: [])
        let guess = initiator.proposals.first?.keyExchange.first
        guard
            case .success(let selection) = IKEv2ProposalCodec.selectIKE(
                offered: offer, ours: responder, peerKeyExchangeGroup: guess?.ikev2ID),
            case .success(let accepted) = IKEv2ProposalCodec.acceptIKE(
                response: selection.reply, offered: initiator)
        else { return nil }
        let retried = guess.flatMap { $0 == accepted.suite.keyExchange ? nil : $0 }
        return IKESA(suite: accepted.suite, retriedFrom: retried)
    }

    /// The CHILD SA suite, or nil when no proposal matches. `pfs: false` is the CHILD SA of IKE_AUTH
    /// (both ends' groups left out, ``IKEv2ProposalCodec/withoutKeyExchange(_:)``); `pfs: true` a CHILD SA
    /// rekeyed with CREATE_CHILD_SA, which carries each end's groups (the initiator's KE payload has the
    /// first group of its first proposal).
    public static func childSA(initiator: ProposalList, responder: ProposalList, pfs: Bool) -> NegotiatedChildSuite? {
        let offered = pfs ? initiator : IKEv2ProposalCodec.withoutKeyExchange(initiator)
        let ours = pfs ? responder : IKEv2ProposalCodec.withoutKeyExchange(responder)
        let offer = IKEv2ProposalCodec.saPayload(for: offered, protocol: .esp, spi: [0, 0, 0x10, 0])
        let guess = pfs ? offered.proposals.first?.keyExchange.first : nil
        guard
            case .success(let selection) = IKEv2ProposalCodec.selectChild(
                offered: offer, ours: ours, localSPI: [0, 0, 0x20, 0], peerKeyExchangeGroup: guess?.ikev2ID),
            case .success(let accepted) = IKEv2ProposalCodec.acceptChild(response: selection.reply, offered: offered)
        else { return nil }
        return accepted.suite
    }
}
