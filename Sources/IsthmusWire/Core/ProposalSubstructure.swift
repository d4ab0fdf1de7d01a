/// A proposal of an SA payload, laid out alike in both versions (RFC 2408 section 3.5, RFC 7296
/// section 3.3.1): a generic header, then
///
/// ```
/// Proposal # (1) | Protocol-ID (1) | SPI Size (1) | # of Transforms (1) | SPI | Transforms
/// ```
///
/// The header's first octet is 2 (ISAKMP's Proposal payload type, IKEv2's Last Substruc "more")
/// before another proposal and 0 on the last.
protocol ProposalSubstructure {
    associatedtype ProtocolID: OctetCode
    associatedtype Transform: TransformSubstructure

    var number: UInt8 { get }
    var protocolID: ProtocolID { get }
    var spi: [UInt8] { get }
    var transforms: [Transform] { get }

    init(number: UInt8, protocolID: ProtocolID, spi: [UInt8], transforms: [Transform])
}

/// A transform of a proposal (RFC 2408 section 3.6, RFC 7296 section 3.3.2): a generic header whose first
/// octet is 3 (ISAKMP's Transform payload type, IKEv2's Last Substruc "more") before another transform
/// and 0 on the last, then a body of at least 4 bytes that each version lays out its own way.
protocol TransformSubstructure {
    /// Reads the body after the generic header, from a reader bounded to it.
    init(parsingBody body: inout WireReader) throws(WireError)
    /// Appends the body after the generic header.
    func serializeBody(into writer: inout WireWriter)
}

/// The first octet of a proposal's generic header when another proposal follows (0 on the last).
private let anotherProposal = ISAKMPPayloadType.proposal.rawValue
/// The first octet of a transform's generic header when another transform follows (0 on the last).
private let anotherTransform = ISAKMPPayloadType.transform.rawValue
/// The length of a proposal or transform with no SPI, transforms or attributes: the generic header and
/// 4 bytes of fixed fields.
private let minimumSubstructureLength = GenericPayloadHeader.size + 4

extension ProposalSubstructure {
    /// Reads the proposals that fill the rest of an SA payload's body: at least one, at most
    /// ``WireLimits/maximumProposalCount``, the last marked as last and followed by nothing.
    static func parseList(from body: inout WireReader) throws(WireError) -> [Self] {
        var proposals: [Self] = []
        var sawLast = false
        while !body.isAtEnd {
            guard !sawLast else {
                throw WireError(.trailingData, at: body.offset, "data after the last proposal")
            }
            guard proposals.count < WireLimits.maximumProposalCount else {
                throw WireError(
                    .limitExceeded, at: body.offset,
                    "more than \(WireLimits.maximumProposalCount) proposals"
                )
            }
            let (proposal, isLast) = try self.parse(from: &body)
            proposals.append(proposal)
            sawLast = isLast
        }
        guard sawLast else {
            throw WireError(.invalidValue, at: body.offset, "SA payload without a last proposal")
        }
        return proposals
    }

    private static func parse(from reader: inout WireReader) throws(WireError) -> (Self, isLast: Bool) {
        var (header, body) = try GenericPayloadHeader.read(
            from: &reader,
            "proposal",
            minimumLength: minimumSubstructureLength
        )
        let start = header.start
        guard header.nextPayload == 0 || header.nextPayload == anotherProposal else {
            throw WireError(.invalidValue, at: start, "proposal next payload \(header.nextPayload), expected 0 or 2")
        }
        let number = try body.expectUInt8("proposal number")
        let protocolID = ProtocolID(rawValue: try body.expectUInt8("proposal protocol ID"))
        let spiSize = Int(try body.expectUInt8("proposal SPI size"))
        let transformCount = Int(try body.expectUInt8("proposal transform count"))
        guard spiSize <= WireLimits.maximumSPISize else {
            throw WireError(.invalidValue, at: start + 6, "SPI size \(spiSize)")
        }
        guard transformCount <= WireLimits.maximumTransformCount else {
            throw WireError(.limitExceeded, at: start + 7, "\(transformCount) transforms")
        }
        let spi = try body.expectBytes(spiSize, "proposal SPI")
        var transforms: [Transform] = []
        for index in 0..<transformCount {
            transforms.append(try Transform.parse(from: &body, isLast: index == transformCount - 1))
        }
        try body.expectAtEnd("the last transform of a proposal")
        let proposal = Self(number: number, protocolID: protocolID, spi: spi, transforms: transforms)
        return (proposal, header.nextPayload == 0)
    }

    /// Appends the proposals, each marked as followed by another but the last.
    static func serializeList(_ proposals: [Self], into writer: inout WireWriter) {
        for (index, proposal) in proposals.enumerated() {
            let next = index == proposals.count - 1 ? 0 : anotherProposal
            GenericPayloadHeader.write(nextPayload: next, into: &writer, body: proposal.serializeBody(into:))
        }
    }

    private func serializeBody(into writer: inout WireWriter) {
        writer.writeUInt8(self.number)
        writer.writeUInt8(self.protocolID.rawValue)
        writer.writeUInt8(UInt8(self.spi.count))
        writer.writeUInt8(UInt8(self.transforms.count))
        writer.writeBytes(self.spi)
        for (index, transform) in self.transforms.enumerated() {
            let next = index == self.transforms.count - 1 ? 0 : anotherTransform
            GenericPayloadHeader.write(nextPayload: next, into: &writer, body: transform.serializeBody(into:))
        }
    }
}

extension TransformSubstructure {
    fileprivate static func parse(from reader: inout WireReader, isLast: Bool) throws(WireError) -> Self {
        var (header, body) = try GenericPayloadHeader.read(
            from: &reader,
            "transform",
            minimumLength: minimumSubstructureLength
        )
        guard header.nextPayload == (isLast ? 0 : anotherTransform) else {
            throw WireError(
                .invalidValue, at: header.start,
                "transform next payload \(header.nextPayload) disagrees with the transform count"
            )
        }
        return try Self(parsingBody: &body)
    }
}
