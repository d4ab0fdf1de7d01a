import IsthmusCrypto
import IsthmusWire

/// What a responder chose from the initiator's SA payload (RFC 7296 section 2.7).
public struct IKEv2Selection<Suite: Sendable & Hashable>: Sendable, Hashable {
    /// The number of the peer's proposal we accepted.
    public let proposalNumber: UInt8
    /// The peer's SPI from that proposal: empty in IKE_SA_INIT, 8 bytes for an IKE rekey, 4 for ESP.
    public let peerSPI: [UInt8]
    /// The chosen algorithms.
    public let suite: Suite
    /// The SA payload to answer with: exactly one proposal, numbered as the peer's, carrying our SPI and
    /// exactly one transform of each type the peer's proposal contained (RFC 7296 sections 2.7 and 3.3).
    public let reply: IKEv2SecurityAssociationPayload
}

/// What an initiator learns from the responder's accepted proposal (RFC 7296 section 2.7).
public struct IKEv2Acceptance<Suite: Sendable & Hashable>: Sendable, Hashable {
    /// The number of our proposal the responder accepted.
    public let proposalNumber: UInt8
    /// The responder's SPI from its proposal: empty in IKE_SA_INIT, 8 bytes for an IKE rekey, 4 for ESP.
    public let peerSPI: [UInt8]
    /// The chosen algorithms.
    public let suite: Suite
}

extension IKEv2ProposalCodec {
    /// Responder: selects an IKE proposal from `offered`, preferring OUR order (RFC 7296 section 2.7).
    ///
    /// Our proposals are tried in order, against the peer's in their order; within each transform type we
    /// take our most preferred algorithm the peer offers. Peer transforms we do not implement (unknown IDs,
    /// odd attributes) are skipped; a peer proposal with a transform type we do not understand, a wrong
    /// protocol ID or SPI size is not acceptable.
    /// - Parameters:
    ///   - localSPI: our SPI for the reply: empty in IKE_SA_INIT, our new 8-byte SPI when rekeying.
    ///   - peerKeyExchangeGroup: the group of the peer's KE payload, if any. Within the chosen proposal it
    ///     wins over our group preference when both sides allow it, saving an INVALID_KE_PAYLOAD round trip
    ///     (RFC 7296 section 1.2; strongSwan does the same). Proposal order is unaffected.
    /// - Returns: the selection, or ``IKEv2NegotiationFailure/Code/noProposalChosen`` describing both sides.
    public static func selectIKE(
        offered: IKEv2SecurityAssociationPayload, ours: ProposalList, localSPI: [UInt8] = [],
        peerKeyExchangeGroup: UInt16? = nil
    ) -> Result<IKEv2Selection<NegotiatedIKESuite>, IKEv2NegotiationFailure> {
        select(
            offered: offered, ours: ours, protocol: .ike, localSPI: localSPI, peerKeyExchangeGroup: peerKeyExchangeGroup
        ).map { match in
            IKEv2Selection(
                proposalNumber: match.number, peerSPI: match.peerSPI, suite: match.choice.ikeSuite,
                reply: match.reply
            )
        }
    }

    /// Responder: selects an ESP proposal for a CHILD SA from `offered`, preferring OUR order
    /// (RFC 7296 sections 2.7 and 1.3.1).
    ///
    /// As ``selectIKE(offered:ours:localSPI:)``; besides, PFS must agree (a proposal of ours with DH groups
    /// needs the peer to offer one; one without needs the peer to offer no D-H transform or NONE), and
    /// so must ESN (an empty ESN list of ours accepts only "no ESN" or no ESN transform).
    /// - Parameters:
    ///   - localSPI: our inbound ESP SPI, 4 bytes in network order.
    ///   - peerKeyExchangeGroup: the group of the peer's KE payload in CREATE_CHILD_SA, if any (as for IKE).
    public static func selectChild(
        offered: IKEv2SecurityAssociationPayload, ours: ProposalList, localSPI: [UInt8],
        peerKeyExchangeGroup: UInt16? = nil
    ) -> Result<IKEv2Selection<NegotiatedChildSuite>, IKEv2NegotiationFailure> {
        select(
            offered: offered, ours: ours, protocol: .esp, localSPI: localSPI, peerKeyExchangeGroup: peerKeyExchangeGroup
        ).map { match in
            IKEv2Selection(
                proposalNumber: match.number, peerSPI: match.peerSPI, suite: match.choice.childSuite,
                reply: match.reply
            )
        }
    }

    /// Initiator: checks the responder's IKE SA payload against what we offered (RFC 7296 section 2.7).
    ///
    /// The response must hold exactly one proposal whose number is one we sent, with exactly one transform
    /// of each type our proposal had, each one we offered there; anything else is
    /// ``IKEv2NegotiationFailure/Code/invalidResponse``.
    public static func acceptIKE(response: IKEv2SecurityAssociationPayload, offered: ProposalList)
        -> Result<IKEv2Acceptance<NegotiatedIKESuite>, IKEv2NegotiationFailure>
    {
        accept(response: response, offered: offered, protocol: .ike).map { number, spi, choice in
            IKEv2Acceptance(proposalNumber: number, peerSPI: spi, suite: choice.ikeSuite)
        }
    }

    /// Initiator: checks the responder's ESP SA payload against what we offered (RFC 7296 section 2.7),
    /// as ``acceptIKE(response:offered:)``.
    public static func acceptChild(response: IKEv2SecurityAssociationPayload, offered: ProposalList)
        -> Result<IKEv2Acceptance<NegotiatedChildSuite>, IKEv2NegotiationFailure>
    {
        accept(response: response, offered: offered, protocol: .esp).map { number, spi, choice in
            IKEv2Acceptance(proposalNumber: number, peerSPI: spi, suite: choice.childSuite)
        }
    }

    // MARK: - Responder

    /// One algorithm per transform type, as negotiated.
    struct Choice {
        var encryption: Algorithm
        var prf: Algorithm?
        var integrity: Algorithm?
        var keyExchange: Algorithm?
        var extendedSequenceNumbers: Bool

        /// Only built for IKE choices, which always have a PRF and a group (checked by `checkOurs`).
        var ikeSuite: NegotiatedIKESuite {
            guard let prf, let keyExchange else { preconditionFailure("an IKE choice has a PRF and a DH group") }
            return NegotiatedIKESuite(encryption: encryption, prf: prf, integrity: integrity, keyExchange: keyExchange)
        }

        var childSuite: NegotiatedChildSuite {
            NegotiatedChildSuite(
                encryption: encryption, integrity: integrity, keyExchange: keyExchange,
                extendedSequenceNumbers: extendedSequenceNumbers
            )
        }
    }

    struct Match {
        var number: UInt8
        var peerSPI: [UInt8]
        var choice: Choice
        var reply: IKEv2SecurityAssociationPayload
    }

    /// A peer's proposal, with the transforms we implement decoded.
    struct Offer {
        let proposal: IKEv2Proposal
        let algorithms: [Algorithm]

        init(_ proposal: IKEv2Proposal) {
            self.proposal = proposal
            self.algorithms = proposal.transforms.compactMap(IKEv2ProposalCodec.algorithm(for:))
        }

        /// Transform types in wire order, without repeats.
        var types: [UInt8] {
            var seen: [UInt8] = []
            for transform in proposal.transforms where !seen.contains(transform.type.rawValue) {
                seen.append(transform.type.rawValue)
            }
            return seen
        }

        func has(_ type: TransformType) -> Bool {
            proposal.transforms.contains { $0.type.rawValue == type.rawValue }
        }

        /// Whether the peer offers transform ID 0 without attributes for `type` (NONE, or "no ESN").
        func offersNone(_ type: UInt8) -> Bool {
            proposal.transforms.contains {
                $0.type.rawValue == type && $0.id == IKEv2ProposalCodec.transformIDNone && $0.attributes.isEmpty
            }
        }

        /// Our most preferred algorithm among `ours` that the peer offers.
        func first(of ours: [Algorithm]) -> Algorithm? {
            ours.first { algorithms.contains($0) }
        }
    }

    static func select(
        offered: IKEv2SecurityAssociationPayload, ours: ProposalList, protocol proto: ProposalProtocol,
        localSPI: [UInt8], peerKeyExchangeGroup: UInt16?
    ) -> Result<Match, IKEv2NegotiationFailure> {
        precondition(isValidSPISize(localSPI.count, for: proto), "our SPI of \(localSPI.count) bytes for \(proto)")
        checkOurs(ours, proto)
        let offers = offered.proposals.map(Offer.init)
        for proposal in ours.proposals {
            for offer in offers {
                if let (choice, transforms) = match(proposal, offer, proto, peerKeyExchangeGroup) {
                    let reply = IKEv2Proposal(
                        number: offer.proposal.number, protocolID: protocolID(proto), spi: localSPI,
                        transforms: transforms
                    )
                    return .success(
                        Match(
                            number: offer.proposal.number, peerSPI: offer.proposal.spi, choice: choice,
                            reply: IKEv2SecurityAssociationPayload(proposals: [reply])
                        )
                    )
                }
            }
        }
        return .failure(
            IKEv2NegotiationFailure(
                code: .noProposalChosen, proposalProtocol: proto,
                peerProposals: describe(offered, protocol: proto), ourProposals: ours.description
            )
        )
    }

    /// Our choice from one peer proposal and the reply's transforms, or nil when it does not match ours.
    static func match(_ ours: Proposal, _ offer: Offer, _ proto: ProposalProtocol, _ peerKeyExchangeGroup: UInt16?)
        -> (Choice, [IKEv2Transform])?
    {
        guard offer.proposal.protocolID == protocolID(proto), isValidSPISize(offer.proposal.spi.count, for: proto)
        else { return nil }
        // RFC 7296 section 2.7: a proposal with a transform type we do not understand is unacceptable;
        // RFC 9370 section 2.2.2: additional key exchanges that include NONE are optional.
        let allowed = allowedTypes(proto)
        var optionalNone: [IKEv2Transform] = []
        for type in offer.types where !allowed.contains(type) {
            guard additionalKeyExchangeTypes.contains(type), offer.offersNone(type) else { return nil }
            optionalNone.append(IKEv2Transform(type: IKEv2TransformType(rawValue: type), id: transformIDNone))
        }

        guard let encryption = offer.first(of: ours.encryption) else { return nil }
        var reply = [transform(for: encryption)]

        var prf: Algorithm? = nil
        if proto == .ike {
            guard let chosen = offer.first(of: ours.prf) else { return nil }
            prf = chosen
            reply.append(transform(for: chosen))
        }

        var integrity: Algorithm? = nil
        if ours.isAEAD {
            // RFC 5282 section 8 / RFC 4106: with AEAD, INTEG is absent or NONE.
            if offer.has(.integrity) {
                guard offer.offersNone(TransformType.integrity.rawValue) else { return nil }
                reply.append(IKEv2Transform(type: .integrity, id: transformIDNone))
            }
        } else {
            guard let chosen = offer.first(of: ours.integrity) else { return nil }
            integrity = chosen
            reply.append(transform(for: chosen))
        }

        var group: Algorithm? = nil
        if !ours.keyExchange.isEmpty {
            let common = ours.keyExchange.filter(offer.algorithms.contains)
            guard let chosen = common.first(where: { $0.ikev2ID == peerKeyExchangeGroup }) ?? common.first
            else { return nil }
            group = chosen
            reply.append(transform(for: chosen))
        } else if offer.has(.keyExchange) {
            // ESP without PFS: the peer's PFS must be optional (RFC 7296 section 3.3.2, NONE).
            guard offer.offersNone(TransformType.keyExchange.rawValue) else { return nil }
            reply.append(IKEv2Transform(type: .keyExchangeMethod, id: transformIDNone))
        }

        var extendedSequenceNumbers = false
        if proto == .esp {
            let acceptable = ourESNChoices(ours)
            if offer.has(.extendedSequenceNumbers) {
                let offered = offer.proposal.transforms.compactMap { transform -> Bool? in
                    guard transform.type == .extendedSequenceNumbers, transform.attributes.isEmpty else { return nil }
                    switch transform.id {
                    case transformIDNone: return false
                    case transformIDExtendedSequenceNumbers: return true
                    default: return nil
                    }
                }
                guard let chosen = acceptable.first(where: offered.contains) else { return nil }
                extendedSequenceNumbers = chosen
                reply.append(
                    IKEv2Transform(
                        type: .extendedSequenceNumbers,
                        id: chosen ? transformIDExtendedSequenceNumbers : transformIDNone
                    )
                )
            } else {
                guard acceptable.contains(false) else { return nil }
            }
        }

        let choice = Choice(
            encryption: encryption, prf: prf, integrity: integrity, keyExchange: group,
            extendedSequenceNumbers: extendedSequenceNumbers
        )
        return (choice, reply + optionalNone)
    }

    /// Our ESN choices in preference order; an empty list means "no ESN" only.
    static func ourESNChoices(_ proposal: Proposal) -> [Bool] {
        proposal.extendedSequenceNumbers.isEmpty
            ? [false] : proposal.extendedSequenceNumbers.map { $0.ikev2ID == transformIDExtendedSequenceNumbers }
    }

    // MARK: - Initiator

    /// Why a response is not acceptable.
    struct Rejection: Error {
        let reason: String
    }

    static func accept(
        response: IKEv2SecurityAssociationPayload, offered: ProposalList, protocol proto: ProposalProtocol
    ) -> Result<(UInt8, [UInt8], Choice), IKEv2NegotiationFailure> {
        checkOurs(offered, proto)
        do {
            return .success(try check(response, offered, proto))
        } catch {
            return .failure(
                IKEv2NegotiationFailure(
                    code: .invalidResponse, proposalProtocol: proto,
                    peerProposals: describe(response, protocol: proto), ourProposals: offered.description,
                    reason: error.reason
                )
            )
        }
    }

    static func check(_ response: IKEv2SecurityAssociationPayload, _ offered: ProposalList, _ proto: ProposalProtocol)
        throws(Rejection) -> (UInt8, [UInt8], Choice)
    {
        guard response.proposals.count == 1 else {
            throw Rejection(reason: "\(response.proposals.count) proposals instead of exactly one")
        }
        let chosen = response.proposals[0]
        guard chosen.number >= 1, Int(chosen.number) <= offered.proposals.count else {
            throw Rejection(reason: "proposal number \(chosen.number) was not offered")
        }
        let ours = offered.proposals[Int(chosen.number) - 1]
        guard chosen.protocolID == protocolID(proto) else {
            throw Rejection(reason: "protocol \(protocolName(chosen.protocolID)) instead of \(proto)")
        }
        guard isValidSPISize(chosen.spi.count, for: proto) else {
            throw Rejection(reason: "an SPI of \(chosen.spi.count) bytes")
        }
        let allowed = allowedTypes(proto)
        for transform in chosen.transforms where !allowed.contains(transform.type.rawValue) {
            throw Rejection(reason: "transform type \(transform.type.rawValue) was not offered")
        }

        /// The one transform of `type`, or nil if absent; more than one is an error.
        func single(_ type: TransformType) throws(Rejection) -> IKEv2Transform? {
            let ofType = chosen.transforms.filter { $0.type.rawValue == type.rawValue }
            guard ofType.count <= 1 else { throw Rejection(reason: "\(ofType.count) \(type) transforms") }
            return ofType.first
        }
        /// The algorithm of the one transform of `type`, which must be among `candidates`.
        func required(_ type: TransformType, among candidates: [Algorithm]) throws(Rejection) -> Algorithm {
            guard let transform = try single(type) else { throw Rejection(reason: "no \(type) transform") }
            guard let algorithm = algorithm(for: transform), candidates.contains(algorithm) else {
                let word = describe(transform, alone: false) ?? "\(transform.id)"
                throw Rejection(reason: "\(type) \(word) was not offered in proposal \(chosen.number)")
            }
            return algorithm
        }
        func absent(_ type: TransformType) throws(Rejection) {
            if try single(type) != nil { throw Rejection(reason: "unexpected \(type) transform (none was offered)") }
        }

        let encryption = try required(.encryption, among: ours.encryption)
        var integrity: Algorithm? = nil
        if ours.isAEAD {
            try absent(.integrity)
        } else {
            integrity = try required(.integrity, among: ours.integrity)
        }
        var prf: Algorithm? = nil
        if proto == .ike { prf = try required(.prf, among: ours.prf) }
        var group: Algorithm? = nil
        if ours.keyExchange.isEmpty {
            try absent(.keyExchange)
        } else {
            group = try required(.keyExchange, among: ours.keyExchange)
        }
        var extendedSequenceNumbers = false
        if proto == .esp {
            guard let transform = try single(.extendedSequenceNumbers) else {
                throw Rejection(reason: "no \(TransformType.extendedSequenceNumbers) transform")
            }
            let value: Bool
            switch (transform.id, transform.attributes.isEmpty) {
            case (transformIDNone, true): value = false
            case (transformIDExtendedSequenceNumbers, true): value = true
            default: throw Rejection(reason: "ESN transform \(transform.id) was not offered")
            }
            guard ourESNChoices(ours).contains(value) else {
                throw Rejection(reason: "\(value ? "esn" : "noesn") was not offered in proposal \(chosen.number)")
            }
            extendedSequenceNumbers = value
        }
        let choice = Choice(
            encryption: encryption, prf: prf, integrity: integrity, keyExchange: group,
            extendedSequenceNumbers: extendedSequenceNumbers
        )
        return (chosen.number, chosen.spi, choice)
    }
}
