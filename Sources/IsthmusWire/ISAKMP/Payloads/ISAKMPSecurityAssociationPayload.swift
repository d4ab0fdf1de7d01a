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
        var proposals: [ISAKMPProposal] = []
        var nextType = ISAKMPPayloadType.proposal
        while nextType != .none {
            guard nextType == .proposal else {
                throw WireError(.invalidValue, at: body.offset, "payload \(nextType.rawValue) inside an SA payload")
            }
            guard proposals.count < WireLimits.maximumProposalCount else {
                throw WireError(
                    .limitExceeded, at: body.offset, "more than \(WireLimits.maximumProposalCount) proposals")
            }
            let (proposal, next) = try ISAKMPProposal.parse(from: &body)
            proposals.append(proposal)
            nextType = next
        }
        try body.expectAtEnd("the last proposal")
        self.proposals = proposals
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeInteger(self.doi)
        writer.writeInteger(self.situation)
        for (index, proposal) in self.proposals.enumerated() {
            proposal.serialize(into: &writer, isLast: index == self.proposals.count - 1)
        }
    }
}

/// An ISAKMP Proposal payload, nested in an SA payload (RFC 2408 section 3.5).
public struct ISAKMPProposal: Hashable, Sendable {
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

    static func parse(from reader: inout WireReader) throws(WireError) -> (ISAKMPProposal, ISAKMPPayloadType) {
        var (header, body) = try GenericPayloadHeader.read(from: &reader, "proposal")
        let start = header.start
        let number = try body.expectUInt8("proposal number")
        let protocolID = try body.expectUInt8("proposal protocol ID")
        let spiSize = Int(try body.expectUInt8("proposal SPI size"))
        let count = Int(try body.expectUInt8("proposal transform count"))
        guard spiSize <= WireLimits.maximumSPISize else {
            throw WireError(.invalidValue, at: start + 6, "SPI size \(spiSize)")
        }
        guard count <= WireLimits.maximumTransformCount else {
            throw WireError(.limitExceeded, at: start + 7, "\(count) transforms")
        }
        let spi = try body.expectBytes(spiSize, "proposal SPI")
        var transforms: [ISAKMPTransform] = []
        for index in 0..<count {
            let (transform, transformNext) = try ISAKMPTransform.parse(from: &body)
            let expected: ISAKMPPayloadType = index == count - 1 ? .none : .transform
            guard transformNext == expected else {
                throw WireError(
                    .invalidValue,
                    at: body.offset,
                    "transform next payload \(transformNext.rawValue) disagrees with the count"
                )
            }
            transforms.append(transform)
        }
        try body.expectAtEnd("the last transform of a proposal")
        let proposal = ISAKMPProposal(
            number: number,
            protocolID: ISAKMPProtocolID(rawValue: protocolID),
            spi: spi,
            transforms: transforms
        )
        return (proposal, ISAKMPPayloadType(rawValue: header.nextPayload))
    }

    func serialize(into writer: inout WireWriter, isLast: Bool) {
        let start = writer.count
        writer.writeUInt8(isLast ? ISAKMPPayloadType.none.rawValue : ISAKMPPayloadType.proposal.rawValue)
        writer.writeUInt8(0)
        let lengthPosition = writer.reserveUInt16()
        writer.writeUInt8(self.number)
        writer.writeUInt8(self.protocolID.rawValue)
        writer.writeUInt8(UInt8(self.spi.count))
        writer.writeUInt8(UInt8(self.transforms.count))
        writer.writeBytes(self.spi)
        for (index, transform) in self.transforms.enumerated() {
            transform.serialize(into: &writer, isLast: index == self.transforms.count - 1)
        }
        writer.patchLength16(at: lengthPosition, from: start)
    }
}

/// An ISAKMP Transform payload, nested in a proposal (RFC 2408 section 3.6).
///
/// Phase 1 transforms use transform ID KEY_IKE (1) and carry the suite as attributes
/// (RFC 2409 Appendix A); Phase 2 transforms name the ESP algorithm in the ID (RFC 2407 section 4.4.4).
public struct ISAKMPTransform: Hashable, Sendable {
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

    static func parse(from reader: inout WireReader) throws(WireError) -> (ISAKMPTransform, ISAKMPPayloadType) {
        var (header, body) = try GenericPayloadHeader.read(from: &reader, "transform")
        let number = try body.expectUInt8("transform number")
        let id = try body.expectUInt8("transform ID")
        _ = try body.expectSlice(2, "transform reserved")
        let attributes = try DataAttribute.parseList(from: &body)
        let next = ISAKMPPayloadType(rawValue: header.nextPayload)
        return (ISAKMPTransform(number: number, id: id, attributes: attributes), next)
    }

    func serialize(into writer: inout WireWriter, isLast: Bool) {
        let start = writer.count
        writer.writeUInt8(isLast ? ISAKMPPayloadType.none.rawValue : ISAKMPPayloadType.transform.rawValue)
        writer.writeUInt8(0)
        let lengthPosition = writer.reserveUInt16()
        writer.writeUInt8(self.number)
        writer.writeUInt8(self.id)
        writer.writeZeros(2)
        for attribute in self.attributes {
            attribute.serialize(into: &writer)
        }
        writer.patchLength16(at: lengthPosition, from: start)
    }
}
