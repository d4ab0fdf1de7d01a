/// The Identification payload in the IPsec DOI (RFC 2408 section 3.8, RFC 2407 section 4.6.2).
public struct ISAKMPIdentificationPayload: PayloadBody {
    public var idType: ISAKMPIdentificationType
    /// The IP protocol (RFC 2407 section 4.6.2.1); 0 means any and is required in Phase 1
    /// (or 17 with port 500).
    public var protocolID: UInt8
    public var port: UInt16
    /// The identification data; address types have a fixed length, checked on parse.
    public var data: [UInt8]

    public init(idType: ISAKMPIdentificationType, protocolID: UInt8 = 0, port: UInt16 = 0, data: [UInt8]) {
        self.idType = idType
        self.protocolID = protocolID
        self.port = port
        self.data = data
    }

    init(parsing body: inout WireReader) throws(WireError) {
        let start = body.offset
        self.idType = ISAKMPIdentificationType(rawValue: try body.expectUInt8("ID type"))
        self.protocolID = try body.expectUInt8("ID protocol")
        self.port = try body.expectUInt16("ID port")
        self.data = Array(body.readRemaining())
        if let expected = self.idType.dataLength, expected != self.data.count {
            throw WireError(
                .lengthMismatch, at: start,
                "ID type \(self.idType.rawValue) with \(self.data.count) bytes, expected \(expected)"
            )
        }
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeUInt8(self.idType.rawValue)
        writer.writeUInt8(self.protocolID)
        writer.writeInteger(self.port)
        writer.writeBytes(self.data)
    }
}

/// An IPsec DOI identification type (RFC 2407 section 4.6.2.1).
public struct ISAKMPIdentificationType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// ID_IPV4_ADDR (1): 4 bytes.
    public static let ipv4Address = ISAKMPIdentificationType(rawValue: 1)
    /// ID_FQDN (2).
    public static let fqdn = ISAKMPIdentificationType(rawValue: 2)
    /// ID_USER_FQDN (3): an email address.
    public static let userFQDN = ISAKMPIdentificationType(rawValue: 3)
    /// ID_IPV4_ADDR_SUBNET (4): address then mask, 8 bytes.
    public static let ipv4AddressSubnet = ISAKMPIdentificationType(rawValue: 4)
    /// ID_IPV6_ADDR (5): 16 bytes.
    public static let ipv6Address = ISAKMPIdentificationType(rawValue: 5)
    /// ID_IPV6_ADDR_SUBNET (6): address then mask, 32 bytes.
    public static let ipv6AddressSubnet = ISAKMPIdentificationType(rawValue: 6)
    /// ID_IPV4_ADDR_RANGE (7): start then end address, 8 bytes.
    public static let ipv4AddressRange = ISAKMPIdentificationType(rawValue: 7)
    /// ID_IPV6_ADDR_RANGE (8): start then end address, 32 bytes.
    public static let ipv6AddressRange = ISAKMPIdentificationType(rawValue: 8)
    /// ID_DER_ASN1_DN (9).
    public static let derASN1DistinguishedName = ISAKMPIdentificationType(rawValue: 9)
    /// ID_DER_ASN1_GN (10).
    public static let derASN1GeneralName = ISAKMPIdentificationType(rawValue: 10)
    /// ID_KEY_ID (11).
    public static let keyID = ISAKMPIdentificationType(rawValue: 11)

    /// The fixed data length of address types, `nil` for variable-length types.
    public var dataLength: Int? {
        switch self {
        case .ipv4Address: 4
        case .ipv4AddressSubnet, .ipv4AddressRange: 8
        case .ipv6Address: 16
        case .ipv6AddressSubnet, .ipv6AddressRange: 32
        default: nil
        }
    }
}
