import IsthmusCrypto

/// What two IKEv1 ends will agree on, worked out before either runs: the initiator's SA payload as this
/// core builds it, the responder's choice as this core makes it, and the initiator's check of that choice.
/// `isthmus check A B` uses it, so the prediction is the negotiation itself, not a copy of its rules.
public enum IKEv1Agreement {
    /// The phase 1 (ISAKMP SA) suite when an end offering `initiator` starts Main Mode with an end that
    /// accepts `responder`; nil when none of the initiator's transforms matches a responder proposal.
    ///
    /// The responder takes its own most preferred proposal that one of the initiator's transforms matches,
    /// the first such transform in the initiator's order (RFC 2409 section 5).
    public static func phase1(initiator: ProposalList, responder: ProposalList) -> IKEv1Phase1Suite? {
        let offer = IKEv1Proposals.phase1SA(initiator, lifetime: IKEv1Lifetime(seconds: 28800))
        guard case .success(let choice) = IKEv1Proposals.choosePhase1(offer, ours: responder),
            case .success(let accepted) = IKEv1Proposals.acceptPhase1(choice.reply, ours: initiator)
        else { return nil }
        return accepted.suite
    }

    /// The phase 2 (Quick Mode) ESP suite when an end offering `initiator` starts Quick Mode with an end
    /// that accepts `responder`; nil when no transform of the initiator's is allowed by a responder
    /// proposal. PFS is part of it: the initiator offers the first DH group of its proposals with every
    /// transform, and a responder proposal takes that group only when it lists it (none only when it lists
    /// none).
    public static func phase2(initiator: ProposalList, responder: ProposalList) -> IKEv1ESPSuite? {
        let offer = IKEv1Proposals.phase2SA(
            initiator, spi: 0x1000, lifetime: IKEv1Lifetime(seconds: 3600), udpEncapsulated: false)
        guard case .success(let choice) = IKEv1Proposals.choosePhase2(offer, ours: responder, ourSPI: 0x2000),
            choice.reply.transforms.count == 1,
            let suite = IKEv1Proposals.phase2Offer(choice.reply.transforms[0]).suite,
            IKEv1Proposals.allows(initiator, suite), suite.group == IKEv1Proposals.pfsGroup(initiator)
        else { return nil }
        return suite
    }
}
