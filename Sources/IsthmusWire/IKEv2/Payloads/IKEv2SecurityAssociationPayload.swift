/// The Security Association payload: a list of proposals (RFC 7296 section 3.3).
public struct IKEv2SecurityAssociationPayload: PayloadBody {
    /// The proposals, in wire order. The codec checks framing only (lengths, the last/more flag,
    /// counts); proposal numbering and content are checked by negotiation.
    public var proposals: [IKEv2Proposal]

    public init(proposals: [IKEv2Proposal]) {
        self.proposals = proposals
    }

    init(parsing body: inout WireReader) throws(WireError) {
        var proposals: [IKEv2Proposal] = []
        var sawLast = false
        while !body.isAtEnd {
            guard !sawLast else {
                throw WireError(.trailingData, at: body.offset, "data after the last proposal")
            }
            guard proposals.count < WireLimits.maximumProposalCount else {
                throw WireError(
                    .limitExceeded,
                    at: body.offset,
                    "more than \(WireLimits.maximumProposalCount) proposals"
                )
            }
            let (proposal, isLast) = try IKEv2Proposal.parse(from: &body)
            proposals.append(proposal)
            sawLast = isLast
        }
        guard sawLast else {
            throw WireError(.invalidValue, at: body.offset, "SA payload without a last proposal")
        }
        self.proposals = proposals
    }

    func serializeBody(into writer: inout WireWriter) {
        for (index, proposal) in self.proposals.enumerated() {
            proposal.serialize(into: &writer, isLast: index == self.proposals.count - 1)
        }
    }
}

/// A proposal substructure (RFC 7296 section 3.3.1).
public struct IKEv2Proposal: Hashable, Sendable {
    /// The "Last Substruc" value of a proposal that is followed by another one.
    static let moreValue: UInt8 = 2
    /// The size of the proposal substructure header before the SPI.
    static let headerSize = 8

    public var number: UInt8
    public var protocolID: IKEv2ProtocolID
    /// The SPI: empty for an initial IKE SA proposal, 8 bytes for IKE rekeying, 4 for ESP/AH.
    public var spi: [UInt8]
    public var transforms: [IKEv2Transform]

    /// Creates a proposal.
    /// - Precondition: the SPI is at most ``WireLimits/maximumSPISize`` bytes and there are at
    ///   most 255 transforms.
    public init(number: UInt8, protocolID: IKEv2ProtocolID, spi: [UInt8] = [], transforms: [IKEv2Transform]) {
        precondition(spi.count <= WireLimits.maximumSPISize, "SPI too long")
        precondition(transforms.count <= Int(UInt8.max), "too many transforms")
        self.number = number
        self.protocolID = protocolID
        self.spi = spi
        self.transforms = transforms
    }

    static func parse(from reader: inout WireReader) throws(WireError) -> (IKEv2Proposal, isLast: Bool) {
        let start = reader.offset
        let last = try reader.expectUInt8("proposal last substruc")
        _ = try reader.expectUInt8("proposal reserved")
        let length = Int(try reader.expectUInt16("proposal length"))
        guard last == 0 || last == moreValue else {
            throw WireError(.invalidValue, at: start, "proposal last substruc \(last), expected 0 or 2")
        }
        guard length >= headerSize else {
            throw WireError(.lengthMismatch, at: start, "proposal length \(length) below \(headerSize)")
        }
        guard var body = reader.readSubReader(length - 4) else {
            throw WireError(.lengthMismatch, at: start, "proposal length \(length) beyond the SA payload")
        }
        let number = try body.expectUInt8("proposal number")
        let protocolID = try body.expectUInt8("proposal protocol ID")
        let spiSize = Int(try body.expectUInt8("proposal SPI size"))
        let transformCount = Int(try body.expectUInt8("proposal transform count"))
        guard spiSize <= WireLimits.maximumSPISize else {
            throw WireError(.invalidValue, at: start + 6, "SPI size \(spiSize)")
        }
        guard transformCount <= WireLimits.maximumTransformCount else {
            throw WireError(.limitExceeded, at: start + 7, "\(transformCount) transforms")
        }
        let spi = try body.expectBytes(spiSize, "proposal SPI")
        var transforms: [IKEv2Transform] = []
        for index in 0..<transformCount {
            let isLast = index == transformCount - 1
            transforms.append(try IKEv2Transform.parse(from: &body, expectLast: isLast))
        }
        try body.expectAtEnd("the last transform of a proposal")
        let proposal = IKEv2Proposal(
            number: number,
            protocolID: IKEv2ProtocolID(rawValue: protocolID),
            spi: spi,
            transforms: transforms
        )
        return (proposal, last == 0)
    }

    func serialize(into writer: inout WireWriter, isLast: Bool) {
        let start = writer.count
        writer.writeUInt8(isLast ? 0 : IKEv2Proposal.moreValue)
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

/// A transform substructure (RFC 7296 section 3.3.2).
public struct IKEv2Transform: Hashable, Sendable {
    /// The "Last Substruc" value of a transform that is followed by another one.
    static let moreValue: UInt8 = 3
    static let headerSize = 8

    public var type: IKEv2TransformType
    /// The transform ID within its type (IANA "IKEv2 Transform Type N" registries).
    public var id: UInt16
    /// Attributes; RFC 7296 defines only Key Length (``DataAttribute/keyLengthType``).
    public var attributes: [DataAttribute]

    public init(type: IKEv2TransformType, id: UInt16, attributes: [DataAttribute] = []) {
        self.type = type
        self.id = id
        self.attributes = attributes
    }

    /// The key length in bits, if a Key Length attribute (type 14, TV) is present.
    public var keyLength: UInt16? {
        for attribute in self.attributes where attribute.type == DataAttribute.keyLengthType {
            if case .basic(let bits) = attribute.value { return bits }
        }
        return nil
    }

    static func parse(from reader: inout WireReader, expectLast: Bool) throws(WireError) -> IKEv2Transform {
        let start = reader.offset
        let last = try reader.expectUInt8("transform last substruc")
        _ = try reader.expectUInt8("transform reserved")
        let length = Int(try reader.expectUInt16("transform length"))
        guard last == (expectLast ? 0 : moreValue) else {
            throw WireError(.invalidValue, at: start, "transform last substruc \(last) disagrees with the count")
        }
        guard length >= headerSize else {
            throw WireError(.lengthMismatch, at: start, "transform length \(length) below \(headerSize)")
        }
        guard var body = reader.readSubReader(length - 4) else {
            throw WireError(.lengthMismatch, at: start, "transform length \(length) beyond the proposal")
        }
        let type = try body.expectUInt8("transform type")
        _ = try body.expectUInt8("transform reserved")
        let id = try body.expectUInt16("transform ID")
        let attributes = try DataAttribute.parseList(from: &body)
        return IKEv2Transform(type: IKEv2TransformType(rawValue: type), id: id, attributes: attributes)
    }

    func serialize(into writer: inout WireWriter, isLast: Bool) {
        let start = writer.count
        writer.writeUInt8(isLast ? 0 : IKEv2Transform.moreValue)
        writer.writeUInt8(0)
        let lengthPosition = writer.reserveUInt16()
        writer.writeUInt8(self.type.rawValue)
        writer.writeUInt8(0)
        writer.writeInteger(self.id)
        for attribute in self.attributes {
            attribute.serialize(into: &writer)
        }
        writer.patchLength16(at: lengthPosition, from: start)
    }
}

/// An IKEv2 transform type (RFC 7296 section 3.3.2).
public struct IKEv2TransformType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// Encryption Algorithm (ENCR), type 1.
    public static let encryption = IKEv2TransformType(rawValue: 1)
    /// Pseudorandom Function (PRF), type 2.
    public static let pseudorandomFunction = IKEv2TransformType(rawValue: 2)
    /// Integrity Algorithm (INTEG), type 3.
    public static let integrity = IKEv2TransformType(rawValue: 3)
    /// Diffie-Hellman / Key Exchange Method (D-H), type 4.
    public static let keyExchangeMethod = IKEv2TransformType(rawValue: 4)
    /// Extended Sequence Numbers (ESN), type 5.
    public static let extendedSequenceNumbers = IKEv2TransformType(rawValue: 5)
}

extension DataAttribute {
    /// The Key Length transform attribute type, 14 (RFC 7296 section 3.3.5), always TV.
    public static let keyLengthType: UInt16 = 14

    /// A Key Length attribute (RFC 7296 section 3.3.5).
    public static func keyLength(_ bits: UInt16) -> DataAttribute {
        DataAttribute(type: keyLengthType, value: .basic(bits))
    }
}
