/// The Security Association payload: a list of proposals (RFC 7296 section 3.3).
public struct IKEv2SecurityAssociationPayload: PayloadBody {
    /// The proposals, in wire order. The codec checks framing only (lengths, the last/more flag,
    /// counts); proposal numbering and content are checked by negotiation.
    public var proposals: [IKEv2Proposal]

    public init(proposals: [IKEv2Proposal]) {
        self.proposals = proposals
    }

    init(parsing body: inout WireReader) throws(WireError) {
        self.proposals = try IKEv2Proposal.parseList(from: &body)
    }

    func serializeBody(into writer: inout WireWriter) {
        IKEv2Proposal.serializeList(self.proposals, into: &writer)
    }
}

/// A proposal substructure (RFC 7296 section 3.3.1).
public struct IKEv2Proposal: Hashable, Sendable, ProposalSubstructure {
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
}

/// A transform substructure (RFC 7296 section 3.3.2).
public struct IKEv2Transform: Hashable, Sendable, TransformSubstructure {
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

    init(parsingBody body: inout WireReader) throws(WireError) {
        self.type = IKEv2TransformType(rawValue: try body.expectUInt8("transform type"))
        _ = try body.expectUInt8("transform reserved")
        self.id = try body.expectUInt16("transform ID")
        self.attributes = try DataAttribute.parseList(from: &body)
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeUInt8(self.type.rawValue)
        writer.writeUInt8(0)
        writer.writeInteger(self.id)
        for attribute in self.attributes {
            attribute.serialize(into: &writer)
        }
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
