/// The ISAKMP Security Association payload with its proposals (RFC 2408 section 3.4,
/// RFC 2407 section 4.6.1 for the IPsec DOI situation).
///
/// Only the IPsec DOI (1) with a 4-byte situation of SIT_IDENTITY_ONLY is decoded; secrecy and
/// integrity situations (which append labelled-domain fields) are rejected as
/// ``WireError/Code/invalidValue`` so the caller can answer SITUATION-NOT-SUPPORTED.
public struct ISAKMPSecurityAssociationPayload: PayloadBody {
    /// SIT_IDENTITY_ONLY (RFC 2407 section 4.2).
    public static let situationIdentityOnly: UInt32 = 1

    public var doi: UInt32
    public var situation: UInt32
    /// Proposals in wire order; several with the same number form one logical AND-proposal.
    public var proposals: [ISAKMPProposal]

    public init(
        doi: UInt32 = ISAKMPProtocolID.ipsecDOI,
        situation: UInt32 = situationIdentityOnly,
        proposals: [ISAKMPProposal]
    ) {
        self.doi = doi
        self.situation = situation
        self.proposals = proposals
    }

    init(parsing body: inout WireReader) throws(WireError) {
        let start = body.offset
        self.doi = try body.expectUInt32("SA DOI")
        guard self.doi == ISAKMPProtocolID.ipsecDOI else {
            throw WireError(.invalidValue, at: start, "unsupported DOI \(self.doi)")
        }
        self.situation = try body.expectUInt32("SA situation")
        guard self.situation == Self.situationIdentityOnly else {
            throw WireError(.invalidValue, at: start + 4, "unsupported situation \(self.situation)")
        }
        self.proposals = try ISAKMPProposal.parseList(from: &body)
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeInteger(self.doi)
        writer.writeInteger(self.situation)
        ISAKMPProposal.serializeList(self.proposals, into: &writer)
    }
}

/// An ISAKMP Proposal payload, nested in an SA payload (RFC 2408 section 3.5).
public struct ISAKMPProposal: Hashable, Sendable, ProposalSubstructure {
    public var number: UInt8
    public var protocolID: ISAKMPProtocolID
    /// The SPI: empty for Phase 1 (RFC 2409 section 5), 4 bytes for ESP/AH in Quick Mode.
    public var spi: [UInt8]
    public var transforms: [ISAKMPTransform]

    /// Creates a proposal.
    /// - Precondition: SPI at most ``WireLimits/maximumSPISize`` bytes, at most 255 transforms.
    public init(number: UInt8, protocolID: ISAKMPProtocolID, spi: [UInt8] = [], transforms: [ISAKMPTransform]) {
        precondition(spi.count <= WireLimits.maximumSPISize && transforms.count <= Int(UInt8.max))
        self.number = number
        self.protocolID = protocolID
        self.spi = spi
        self.transforms = transforms
    }
}

/// An ISAKMP Transform payload, nested in a proposal (RFC 2408 section 3.6).
///
/// Phase 1 transforms use transform ID KEY_IKE (1) and carry the suite as attributes
/// (RFC 2409 Appendix A); Phase 2 transforms name the ESP algorithm in the ID (RFC 2407 section 4.4.4).
public struct ISAKMPTransform: Hashable, Sendable, TransformSubstructure {
    /// KEY_IKE (1), the only Phase 1 transform ID (RFC 2407 section 4.4.2).
    public static let keyIKE: UInt8 = 1

    public var number: UInt8
    public var id: UInt8
    public var attributes: [DataAttribute]

    public init(number: UInt8, id: UInt8, attributes: [DataAttribute]) {
        self.number = number
        self.id = id
        self.attributes = attributes
    }

    init(parsingBody body: inout WireReader) throws(WireError) {
        self.number = try body.expectUInt8("transform number")
        self.id = try body.expectUInt8("transform ID")
        _ = try body.expectSlice(2, "transform reserved")
        self.attributes = try DataAttribute.parseList(from: &body)
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeUInt8(self.number)
        writer.writeUInt8(self.id)
        writer.writeZeros(2)
        for attribute in self.attributes {
            attribute.serialize(into: &writer)
        }
    }
}
