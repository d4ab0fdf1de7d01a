import IsthmusCrypto
import IsthmusWire

/// Converts between ``ProposalList`` and the SA payload (RFC 7296 section 3.3), and negotiates:
/// the responder selects (section 2.7), the initiator checks what the responder accepted.
///
/// SPIs are raw bytes as carried in the proposal substructure: empty in IKE_SA_INIT, 8 bytes (the
/// new IKE SA's SPI, network order) when rekeying the IKE SA, 4 bytes (network order) for ESP.
public enum IKEv2ProposalCodec {
    /// SPI size of an IKE proposal when rekeying the IKE SA (RFC 7296 section 3.3.1).
    public static let ikeRekeySPISize = 8
    /// SPI size of an ESP proposal (RFC 7296 section 3.3.1).
    public static let espSPISize = 4
    /// Transform ID 0 (NONE) of the INTEG, D-H and additional key exchange types (RFC 7296 section 3.3.2,
    /// RFC 9370 section 2.2.2); for ESN, 0 means "no extended sequence numbers".
    static let transformIDNone: UInt16 = 0
    /// ESN transform ID 1: 64-bit extended sequence numbers (RFC 7296 section 3.3.2).
    static let transformIDExtendedSequenceNumbers: UInt16 = 1
    /// Additional Key Exchange transform types ADDKE1..ADDKE7 (RFC 9370 section 2.2.2): optional only when
    /// they include NONE, which is what we echo because we do not implement them.
    static let additionalKeyExchangeTypes: ClosedRange<UInt8> = 6...12

    /// The SA payload offering `list`: one proposal per entry, numbered from 1 (RFC 7296 section 3.3.1).
    ///
    /// Each proposal carries its transforms in the order ENCR (with Key Length for AES), PRF (IKE only),
    /// INTEG (left out for AEAD), D-H (every group; for ESP only with PFS) and ESN (ESP only; a single
    /// "no ESN" transform when the proposal lists no ESN choice).
    /// - Parameters:
    ///   - spi: empty for IKE_SA_INIT, 8 bytes for an IKE SA rekey, 4 bytes for ESP.
    /// - Precondition: `spi` has a size valid for `proto`, and `list` was parsed for `proto` and IKEv2.
    public static func saPayload(for list: ProposalList, protocol proto: ProposalProtocol, spi: [UInt8])
        -> IKEv2SecurityAssociationPayload
    {
        precondition(isValidSPISize(spi.count, for: proto), "SPI of \(spi.count) bytes for \(proto)")
        precondition(list.proposals.count <= Int(UInt8.max), "at most 255 proposals")
        checkOurs(list, proto)
        let proposals = list.proposals.enumerated().map { index, proposal in
            IKEv2Proposal(
                number: UInt8(index + 1), protocolID: protocolID(proto), spi: spi,
                transforms: transforms(for: proposal, protocol: proto)
            )
        }
        return IKEv2SecurityAssociationPayload(proposals: proposals)
    }

    /// The transforms of one of our proposals, in the order ``saPayload(for:protocol:spi:)`` describes.
    public static func transforms(for proposal: Proposal, protocol proto: ProposalProtocol) -> [IKEv2Transform] {
        var algorithms = proposal.encryption
        if proto == .ike { algorithms += proposal.prf }
        algorithms += proposal.integrity + proposal.keyExchange
        var result = algorithms.map(transform(for:))
        if proto == .esp {
            result +=
                proposal.extendedSequenceNumbers.isEmpty
                ? [IKEv2Transform(type: .extendedSequenceNumbers, id: transformIDNone)]
                : proposal.extendedSequenceNumbers.map(transform(for:))
        }
        return result
    }

    /// The peer's (or any) proposals in strongSwan keywords, comma-separated, for log lines: known IDs by
    /// keyword, unknown ones as `ENCR_99`, `INTEG_7`, `DH_99` (with `_<bits>` for a key length).
    ///
    /// "No ESN" alone and NONE alone are left out (they are strongSwan's defaults); a proposal for another
    /// protocol than `proto` is prefixed with its protocol, e.g. `[AH] sha256`.
    public static func describe(_ payload: IKEv2SecurityAssociationPayload, protocol proto: ProposalProtocol? = nil)
        -> String
    {
        guard !payload.proposals.isEmpty else { return "no proposals" }
        return payload.proposals.map { describe($0, protocol: proto) }.joined(separator: ", ")
    }

    // MARK: - Transforms and algorithms

    /// The wire protocol ID of a proposal protocol (RFC 7296 section 3.3.1).
    static func protocolID(_ proto: ProposalProtocol) -> IKEv2ProtocolID {
        switch proto {
        case .ike: .ike
        case .esp: .esp
        }
    }

    /// Whether an SPI of `size` bytes may appear in a proposal for `proto` (RFC 7296 section 3.3.1).
    static func isValidSPISize(_ size: Int, for proto: ProposalProtocol) -> Bool {
        switch proto {
        case .ike: size == 0 || size == ikeRekeySPISize
        case .esp: size == espSPISize
        }
    }

    /// The transform types a proposal for `proto` may contain (RFC 7296 section 3.3.3).
    static func allowedTypes(_ proto: ProposalProtocol) -> Set<UInt8> {
        switch proto {
        case .ike:
            [TransformType.encryption, .prf, .integrity, .keyExchange].reduce(into: []) { $0.insert($1.rawValue) }
        case .esp:
            [TransformType.encryption, .integrity, .keyExchange, .extendedSequenceNumbers].reduce(into: []) {
                $0.insert($1.rawValue)
            }
        }
    }

    /// Our own proposals must make sense for the protocol: a programming error otherwise.
    static func checkOurs(_ list: ProposalList, _ proto: ProposalProtocol) {
        for proposal in list.proposals {
            switch proto {
            case .ike:
                precondition(
                    !proposal.prf.isEmpty && !proposal.keyExchange.isEmpty && proposal.extendedSequenceNumbers.isEmpty,
                    "an IKEv2 IKE proposal needs a PRF and a DH group and has no ESN: \(proposal)"
                )
            case .esp:
                precondition(proposal.prf.isEmpty, "an ESP proposal has no PRF: \(proposal)")
            }
        }
    }

    /// The transform for one of our algorithms, with a Key Length attribute when it has one
    /// (RFC 7296 section 3.3.5).
    static func transform(for algorithm: Algorithm) -> IKEv2Transform {
        let attributes = algorithm.keyLengthBits.map { [DataAttribute.keyLength(UInt16($0))] } ?? []
        return IKEv2Transform(
            type: IKEv2TransformType(rawValue: algorithm.type.rawValue), id: algorithm.ikev2ID, attributes: attributes
        )
    }

    /// The algorithm a peer's transform names, or nil when we do not implement it: unknown type or ID,
    /// a missing or unexpected key length, or any other attribute (RFC 7296 section 3.3.6: a transform
    /// with an attribute we do not understand is not acceptable).
    static func algorithm(for transform: IKEv2Transform) -> Algorithm? {
        guard let type = TransformType(rawValue: transform.type.rawValue) else { return nil }
        var keyLength: Int? = nil
        switch transform.attributes.count {
        case 0:
            break
        case 1:
            guard type == .encryption, let bits = transform.keyLength else { return nil }
            keyLength = Int(bits)
        default:
            return nil
        }
        return AlgorithmRegistry.algorithm(type: type, ikev2ID: transform.id, keyLengthBits: keyLength)
    }

    // MARK: - Describing

    /// The order `Proposal.description` uses: ENCR, INTEG, PRF, D-H, ESN.
    static let descriptionOrder: [UInt8] = [1, 3, 2, 4, 5]

    static func describe(_ proposal: IKEv2Proposal, protocol proto: ProposalProtocol?) -> String {
        var types = descriptionOrder
        for transform in proposal.transforms where !types.contains(transform.type.rawValue) {
            types.append(transform.type.rawValue)
        }
        var words: [String] = []
        for type in types {
            let ofType = proposal.transforms.filter { $0.type.rawValue == type }
            for transform in ofType {
                if let word = describe(transform, alone: ofType.count == 1) { words.append(word) }
            }
        }
        var text = words.isEmpty ? "(no transforms)" : words.joined(separator: "-")
        if let proto, proposal.protocolID != protocolID(proto) {
            text = "[\(protocolName(proposal.protocolID))] " + text
        }
        return text
    }

    static func describe(_ transform: IKEv2Transform, alone: Bool) -> String? {
        let type = transform.type.rawValue
        if let algorithm = algorithm(for: transform) {
            if algorithm.type == .extendedSequenceNumbers, algorithm.ikev2ID == transformIDNone, alone { return nil }
            return algorithm.keyword
        }
        let noneMeaningful =
            type == TransformType.integrity.rawValue || type == TransformType.keyExchange.rawValue
            || additionalKeyExchangeTypes.contains(type)
        if noneMeaningful, transform.id == transformIDNone, transform.attributes.isEmpty {
            return alone ? nil : "none"
        }
        var word = "\(transformTypeName(type))_\(transform.id)"
        if let bits = transform.keyLength { word += "_\(bits)" }
        return word
    }

    static func transformTypeName(_ type: UInt8) -> String {
        switch type {
        case 1: "ENCR"
        case 2: "PRF"
        case 3: "INTEG"
        case 4: "DH"
        case 5: "ESN"
        case additionalKeyExchangeTypes: "ADDKE\(type - 5)"
        default: "TRANSFORM\(type)"
        }
    }

    static func protocolName(_ id: IKEv2ProtocolID) -> String {
        switch id {
        case .ike: "IKE"
        case .ah: "AH"
        case .esp: "ESP"
        default: "protocol \(id.rawValue)"
        }
    }
}
