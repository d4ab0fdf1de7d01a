import IsthmusCrypto
import IsthmusIP
import IsthmusWire

/// Building and choosing IKEv1 SA payloads: phase 1 transforms with attributes (RFC 2409 Appendix A),
/// phase 2 ESP proposals in the IPsec DOI (RFC 2407 sections 4.4.4 and 4.5).
enum IKEv1Proposals {
    /// Authentication Method attribute value for pre-shared keys (RFC 2409 Appendix A).
    static let preSharedKeyMethod: UInt16 = 1
    /// Life Type values: seconds (1), kilobytes (2), in both phases.
    static let lifeTypeSeconds: UInt16 = 1
    static let lifeTypeKilobytes: UInt16 = 2
    /// Encapsulation Mode values (RFC 2407 4.5; RFC 3947 section 5 for UDP; 61443 from the drafts).
    static let tunnelMode: UInt16 = 1
    static let udpTunnelMode: UInt16 = 3
    static let draftUDPTunnelMode: UInt16 = 61443
    /// The Extended Sequence Number attribute (RFC 4304 section 2).
    static let esnAttribute: UInt16 = 11
    /// The default lifetime when a proposal names none (RFC 2407 section 4.5: 28800 seconds).
    static let defaultLifetimeSeconds: UInt64 = 28800

    // MARK: - Phase 1

    /// What one transform offers, in phase 1 or 2: the suite when every algorithm it names is one we know,
    /// its lifetime and its other attributes.
    struct TransformOffer<Suite>: CustomStringConvertible {
        /// The first value of each attribute other than the life type and duration, by attribute type.
        var values: [UInt16: UInt64] = [:]
        /// What the Life Type / Life Duration pairs say, or RFC 2407's default when there are none.
        var lifetime: IKEv1Lifetime
        var suite: Suite?
        /// What the transform said, in strongSwan keywords where known.
        var text = ""

        var description: String { text }

        /// Reads `transform`'s attributes, its lifetime from those of type `lifeType` and `lifeDuration`.
        init(_ transform: ISAKMPTransform, lifeType: UInt16, lifeDuration: UInt16) {
            for attribute in transform.attributes where attribute.type != lifeType && attribute.type != lifeDuration {
                if values[attribute.type] == nil { values[attribute.type] = integer(attribute.value) }
            }
            lifetime =
                IKEv1Proposals.lifetime(transform.attributes, type: lifeType, duration: lifeDuration)
                ?? IKEv1Lifetime(seconds: defaultLifetimeSeconds)
        }

        /// An attribute's first value as the 16 bits attribute values mostly are.
        func value(_ type: UInt16) -> UInt16? { values[type].map { UInt16(truncatingIfNeeded: $0) } }
    }

    typealias Phase1Offer = TransformOffer<IKEv1Phase1Suite>
    typealias Phase2Offer = TransformOffer<IKEv1ESPSuite>

    /// Our phase 1 SA payload: one proposal, one transform per (cipher, hash, group) combination.
    static func phase1SA(_ proposals: ProposalList, lifetime: IKEv1Lifetime) -> ISAKMPSecurityAssociationPayload {
        var transforms: [ISAKMPTransform] = []
        for proposal in proposals.proposals {
            for encryption in proposal.encryption {
                for hash in proposal.integrity {
                    for group in proposal.keyExchange {
                        guard let encryptionValue = encryption.ikev1Phase1Value, let hashValue = hash.ikev1Phase1Value,
                            let groupValue = group.ikev1Phase1Value, transforms.count < Int(UInt8.max)
                        else { continue }
                        typealias A = ISAKMPAttributeType.Phase1
                        var attributes = [DataAttribute(type: A.encryptionAlgorithm, value: .basic(encryptionValue))]
                        if let bits = encryption.keyLengthBits {
                            attributes.append(DataAttribute(type: A.keyLength, value: .basic(UInt16(bits))))
                        }
                        attributes += [
                            DataAttribute(type: A.hashAlgorithm, value: .basic(hashValue)),
                            DataAttribute(type: A.authenticationMethod, value: .basic(preSharedKeyMethod)),
                            DataAttribute(type: A.groupDescription, value: .basic(groupValue)),
                        ]
                        attributes += lifeAttributes(lifetime, type: A.lifeType, duration: A.lifeDuration)
                        transforms.append(
                            ISAKMPTransform(
                                number: UInt8(transforms.count + 1), id: ISAKMPTransform.keyIKE, attributes: attributes)
                        )
                    }
                }
            }
        }
        return ISAKMPSecurityAssociationPayload(proposals: [
            ISAKMPProposal(number: 1, protocolID: .isakmp, transforms: transforms)
        ])
    }

    static func lifeAttributes(_ lifetime: IKEv1Lifetime, type: UInt16, duration: UInt16) -> [DataAttribute] {
        var attributes: [DataAttribute] = []
        if let seconds = lifetime.seconds {
            attributes.append(DataAttribute(type: type, value: .basic(lifeTypeSeconds)))
            attributes.append(DataAttribute(type: duration, value: durationValue(seconds)))
        }
        if let kilobytes = lifetime.kilobytes {
            attributes.append(DataAttribute(type: type, value: .basic(lifeTypeKilobytes)))
            attributes.append(DataAttribute(type: duration, value: durationValue(kilobytes)))
        }
        return attributes
    }

    /// A duration as a basic attribute when it fits 16 bits, else a 4-byte (or 8-byte) variable one.
    static func durationValue(_ value: UInt64) -> DataAttribute.Value {
        if value <= UInt64(UInt16.max) { return .basic(UInt16(value)) }
        let width = value <= UInt64(UInt32.max) ? 4 : 8
        return .variable((0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64(width - 1 - $0))) })
    }

    /// An attribute's value as an integer; nil for variable values longer than 8 bytes.
    static func integer(_ value: DataAttribute.Value) -> UInt64? {
        switch value {
        case .basic(let small): return UInt64(small)
        case .variable(let bytes):
            let significant = bytes.drop { $0 == 0 }
            guard significant.count <= 8 else { return nil }
            return significant.reduce(0) { $0 << 8 | UInt64($1) }
        }
    }

    /// Reads Life Type / Life Duration pairs (a duration applies to the type named before it).
    static func lifetime(_ attributes: [DataAttribute], type: UInt16, duration: UInt16) -> IKEv1Lifetime? {
        var lifetime = IKEv1Lifetime(seconds: nil)
        var current: UInt64?
        var any = false
        for attribute in attributes {
            if attribute.type == type {
                current = integer(attribute.value)
            } else if attribute.type == duration, let value = integer(attribute.value) {
                any = true
                switch current {
                case UInt64(lifeTypeSeconds)?: lifetime.seconds = value
                case UInt64(lifeTypeKilobytes)?: lifetime.kilobytes = value
                default: break
                }
            }
        }
        return any ? lifetime : nil
    }

    static func phase1Offer(_ transform: ISAKMPTransform) -> Phase1Offer {
        typealias A = ISAKMPAttributeType.Phase1
        var offer = Phase1Offer(transform, lifeType: A.lifeType, lifeDuration: A.lifeDuration)
        let values = offer.values
        let keyBits = values[A.keyLength].map { Int($0) }
        let encryption = values[A.encryptionAlgorithm].flatMap { value in
            AlgorithmRegistry.algorithm(
                type: .encryption, ikev1Phase1Value: UInt16(truncatingIfNeeded: value),
                keyLengthBits: keyBits)
                ?? (keyBits == nil && value == 7
                    ? AlgorithmRegistry.algorithm(type: .encryption, ikev1Phase1Value: 7, keyLengthBits: 128) : nil)
        }
        let hash = values[A.hashAlgorithm].flatMap {
            AlgorithmRegistry.algorithm(type: .integrity, ikev1Phase1Value: UInt16(truncatingIfNeeded: $0))
        }
        let group = values[A.groupDescription].flatMap {
            AlgorithmRegistry.algorithm(type: .keyExchange, ikev1Phase1Value: UInt16(truncatingIfNeeded: $0))
        }
        let method = offer.authenticationMethod
        var words = [
            encryption?.keyword ?? "encryption-\(values[A.encryptionAlgorithm].map(String.init) ?? "none")"
                + (encryption == nil ? keyBits.map { "/\($0)" } ?? "" : ""),
            hash?.keyword ?? "hash-\(values[A.hashAlgorithm].map(String.init) ?? "none")",
            group?.keyword ?? "group-\(values[A.groupDescription].map(String.init) ?? "none")",
        ]
        if method != preSharedKeyMethod { words.append("auth-\(method.map(String.init) ?? "none")") }
        offer.suite = encryption.flatMap { e in
            hash.flatMap { h in group.flatMap { IKEv1Phase1Suite(encryption: e, hash: h, group: $0) } }
        }
        offer.text = words.joined(separator: "-")
        return offer
    }

    /// The responder's choice (RFC 2409 section 5: one transform, returned unchanged): our most preferred
    /// proposal that one of the peer's transforms matches. Fails with both sides' offers named.
    static func choosePhase1(
        _ offer: ISAKMPSecurityAssociationPayload, ours: ProposalList
    ) -> Result<
        (reply: ISAKMPSecurityAssociationPayload, suite: IKEv1Phase1Suite, lifetime: IKEv1Lifetime), MismatchError
    > {
        let candidates = offer.proposals.filter { $0.protocolID == .isakmp }.flatMap { proposal in
            proposal.transforms.filter { $0.id == ISAKMPTransform.keyIKE }.map { (proposal, $0, phase1Offer($0)) }
        }
        for proposal in ours.proposals {
            for (peerProposal, transform, peer) in candidates {
                guard let suite = peer.suite, peer.authenticationMethod == preSharedKeyMethod,
                    proposal.encryption.contains(suite.encryption), proposal.integrity.contains(suite.hash),
                    proposal.keyExchange.contains(suite.group)
                else { continue }
                let reply = ISAKMPSecurityAssociationPayload(
                    doi: offer.doi, situation: offer.situation,
                    proposals: [
                        ISAKMPProposal(
                            number: peerProposal.number, protocolID: .isakmp, spi: peerProposal.spi,
                            transforms: [transform])
                    ])
                return .success((reply, suite, peer.lifetime))
            }
        }
        return .failure(MismatchError(peer: candidates.map(\.2.text), ours: ours.description))
    }

    /// The initiator's check of the responder's choice: exactly one transform, one we offered.
    static func acceptPhase1(_ reply: ISAKMPSecurityAssociationPayload, ours: ProposalList)
        -> Result<(suite: IKEv1Phase1Suite, lifetime: IKEv1Lifetime), MismatchError>
    {
        let transforms = reply.proposals.flatMap(\.transforms)
        guard transforms.count == 1, let transform = transforms.first else {
            return .failure(
                MismatchError(
                    peer: transforms.map { phase1Offer($0).text }, ours: ours.description,
                    note: "the responder must choose exactly one transform"))
        }
        let offer = phase1Offer(transform)
        guard let suite = offer.suite, offer.authenticationMethod == preSharedKeyMethod,
            ours.proposals.contains(where: {
                $0.encryption.contains(suite.encryption) && $0.integrity.contains(suite.hash)
                    && $0.keyExchange.contains(suite.group)
            })
        else { return .failure(MismatchError(peer: [offer.text], ours: ours.description)) }
        return .success((suite, offer.lifetime))
    }

    /// Both sides' offers, for the proposal-mismatch event.
    struct MismatchError: Error, CustomStringConvertible {
        var peer: [String]
        var ours: String
        var note: String? = nil

        var description: String {
            "peer offered \(peer.isEmpty ? "nothing usable" : peer.joined(separator: ", ")); we accept \(ours)"
                + (note.map { " (\($0))" } ?? "")
        }
    }

    // MARK: - Phase 2

    /// The PFS group of our ESP proposals: the first DH group any of them names.
    static func pfsGroup(_ proposals: ProposalList) -> Algorithm? {
        proposals.proposals.lazy.compactMap(\.keyExchange.first).first
    }

    /// Our Quick Mode SA payload: one ESP proposal with our SPI and one transform per (cipher, integrity).
    static func phase2SA(
        _ proposals: ProposalList, spi: UInt32, lifetime: IKEv1Lifetime, udpEncapsulated: Bool
    ) -> ISAKMPSecurityAssociationPayload {
        typealias A = ISAKMPAttributeType.Phase2
        let group = pfsGroup(proposals)
        var transforms: [ISAKMPTransform] = []
        for proposal in proposals.proposals {
            let integrities: [Algorithm?] = proposal.isAEAD ? [nil] : proposal.integrity.map { $0 }
            let esn = proposal.extendedSequenceNumbers.contains { $0.keyword == "esn" }
            for encryption in proposal.encryption {
                for integrity in integrities {
                    guard let id = encryption.ikev1Phase2Value, id <= UInt16(UInt8.max),
                        integrity?.ikev1Phase2Value != nil || integrity == nil, transforms.count < Int(UInt8.max)
                    else { continue }
                    var attributes = lifeAttributes(lifetime, type: A.saLifeType, duration: A.saLifeDuration)
                    if let group, let value = group.ikev1Phase2Value {
                        attributes.append(DataAttribute(type: A.groupDescription, value: .basic(value)))
                    }
                    attributes.append(
                        DataAttribute(
                            type: A.encapsulationMode, value: .basic(udpEncapsulated ? udpTunnelMode : tunnelMode)))
                    if let value = integrity?.ikev1Phase2Value {
                        attributes.append(DataAttribute(type: A.authenticationAlgorithm, value: .basic(value)))
                    }
                    if let bits = encryption.keyLengthBits {
                        attributes.append(DataAttribute(type: A.keyLength, value: .basic(UInt16(bits))))
                    }
                    if esn { attributes.append(DataAttribute(type: esnAttribute, value: .basic(1))) }
                    transforms.append(
                        ISAKMPTransform(
                            number: UInt8(transforms.count + 1), id: UInt8(id),
                            attributes: attributes))
                }
            }
        }
        return ISAKMPSecurityAssociationPayload(proposals: [
            ISAKMPProposal(number: 1, protocolID: .esp, spi: IKEv1SACrypto.bytes(spi), transforms: transforms)
        ])
    }

    static func phase2Offer(_ transform: ISAKMPTransform) -> Phase2Offer {
        typealias A = ISAKMPAttributeType.Phase2
        var offer = Phase2Offer(transform, lifeType: A.saLifeType, lifeDuration: A.saLifeDuration)
        let values = offer.values
        let keyBits = values[A.keyLength].map { Int($0) }
        let encryption =
            AlgorithmRegistry.algorithm(
                type: .encryption, ikev1Phase2Value: UInt16(transform.id),
                keyLengthBits: keyBits)
            ?? (keyBits == nil && transform.id == 12
                ? AlgorithmRegistry.algorithm(type: .encryption, ikev1Phase2Value: 12, keyLengthBits: 128) : nil)
        let integrityValue = offer.value(A.authenticationAlgorithm)
        let integrity = integrityValue.flatMap { AlgorithmRegistry.algorithm(type: .integrity, ikev1Phase2Value: $0) }
        let groupValue = offer.value(A.groupDescription)
        let group = groupValue.flatMap { AlgorithmRegistry.algorithm(type: .keyExchange, ikev1Phase2Value: $0) }
        let esn = values[esnAttribute] == 1
        if let encryption, encryption.isAEAD == (integrityValue == nil), integrityValue == nil || integrity != nil,
            groupValue == nil || group != nil
        {
            offer.suite = IKEv1ESPSuite(
                encryption: encryption, integrity: integrity, group: group,
                extendedSequenceNumbers: esn)
        }
        var words = [
            encryption?.keyword ?? "esp-\(transform.id)" + (encryption == nil ? keyBits.map { "/\($0)" } ?? "" : "")
        ]
        if let integrityValue { words.append(integrity?.keyword ?? "auth-\(integrityValue)") }
        if let groupValue { words.append(group?.keyword ?? "group-\(groupValue)") }
        if esn { words.append("esn") }
        if let mode = offer.encapsulationMode, ![tunnelMode, udpTunnelMode, draftUDPTunnelMode].contains(mode) {
            words.append("mode-\(mode)")
        }
        offer.text = words.joined(separator: "-")
        return offer
    }

    /// Whether one of our ESP proposals allows `suite` (its PFS group among the proposal's groups, or
    /// no group when the proposal names none).
    static func allows(_ ours: ProposalList, _ suite: IKEv1ESPSuite) -> Bool {
        ours.proposals.contains { proposal in
            let esnAllowed =
                suite.extendedSequenceNumbers
                ? proposal.extendedSequenceNumbers.contains { $0.keyword == "esn" }
                : proposal.extendedSequenceNumbers.isEmpty
                    || proposal.extendedSequenceNumbers.contains { $0.keyword == "noesn" }
            return proposal.encryption.contains(suite.encryption)
                && (suite.integrity.map { proposal.integrity.contains($0) } ?? proposal.isAEAD)
                && (suite.group.map { proposal.keyExchange.contains($0) } ?? proposal.keyExchange.isEmpty)
                && esnAllowed
        }
    }

    struct Phase2Choice {
        var reply: ISAKMPProposal
        var suite: IKEv1ESPSuite
        var peerSPI: UInt32
        var lifetime: IKEv1Lifetime
    }

    /// The responder's choice among the peer's ESP proposals, in our order of preference; the reply
    /// carries our SPI and the chosen transform unchanged.
    static func choosePhase2(_ offer: ISAKMPSecurityAssociationPayload, ours: ProposalList, ourSPI: UInt32)
        -> Result<Phase2Choice, MismatchError>
    {
        let candidates = offer.proposals.filter { $0.protocolID == .esp && $0.spi.count == 4 }.flatMap { proposal in
            proposal.transforms.map { (proposal, $0, phase2Offer($0)) }
        }
        for proposal in ours.proposals {
            let single = ProposalList([proposal])
            for (peerProposal, transform, peer) in candidates {
                guard let suite = peer.suite, allows(single, suite),
                    let mode = peer.encapsulationMode,
                    [tunnelMode, udpTunnelMode, draftUDPTunnelMode].contains(mode)
                else { continue }
                let reply = ISAKMPProposal(
                    number: peerProposal.number, protocolID: .esp,
                    spi: IKEv1SACrypto.bytes(ourSPI), transforms: [transform])
                let spi = peerProposal.spi.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                return .success(Phase2Choice(reply: reply, suite: suite, peerSPI: spi, lifetime: peer.lifetime))
            }
        }
        return .failure(MismatchError(peer: candidates.map(\.2.text), ours: ours.description))
    }
}

extension IKEv1Proposals.TransformOffer<IKEv1Phase1Suite> {
    /// The Authentication Method attribute (RFC 2409 Appendix A).
    var authenticationMethod: UInt16? { value(ISAKMPAttributeType.Phase1.authenticationMethod) }
}

extension IKEv1Proposals.TransformOffer<IKEv1ESPSuite> {
    /// The Encapsulation Mode attribute (RFC 2407 section 4.5).
    var encapsulationMode: UInt16? { value(ISAKMPAttributeType.Phase2.encapsulationMode) }
}
