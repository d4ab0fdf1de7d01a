/// The Identification payload, IDi or IDr (RFC 7296 section 3.5).
public struct IKEv2IdentificationPayload: PayloadBody {
    public var idType: IKEv2IdentificationType
    /// The identification data; 4 bytes for ID_IPV4_ADDR, 16 for ID_IPV6_ADDR (checked on parse).
    public var data: [UInt8]

    public init(idType: IKEv2IdentificationType, data: [UInt8]) {
        self.idType = idType
        self.data = data
    }

    init(parsing body: inout WireReader) throws(WireError) {
        let start = body.offset
        self.idType = IKEv2IdentificationType(rawValue: try body.expectUInt8("ID type"))
        _ = try body.expectSlice(3, "ID reserved")
        self.data = Array(body.readRemaining())
        let expected: Int? =
            switch self.idType {
            case .ipv4Address: 4
            case .ipv6Address: 16
            default: nil
            }
        if let expected, self.data.count != expected {
            throw WireError(.lengthMismatch, at: start, "address identity of \(self.data.count) bytes")
        }
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeUInt8(self.idType.rawValue)
        writer.writeZeros(3)
        writer.writeBytes(self.data)
    }
}

/// An IKEv2 identification type (RFC 7296 section 3.5).
public struct IKEv2IdentificationType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// ID_IPV4_ADDR (1): a 4-byte IPv4 address.
    public static let ipv4Address = IKEv2IdentificationType(rawValue: 1)
    /// ID_FQDN (2): a fully qualified domain name, no terminator.
    public static let fqdn = IKEv2IdentificationType(rawValue: 2)
    /// ID_RFC822_ADDR (3): an email address.
    public static let rfc822Address = IKEv2IdentificationType(rawValue: 3)
    /// ID_IPV6_ADDR (5): a 16-byte IPv6 address.
    public static let ipv6Address = IKEv2IdentificationType(rawValue: 5)
    /// ID_DER_ASN1_DN (9): a DER-encoded X.500 distinguished name.
    public static let derASN1DistinguishedName = IKEv2IdentificationType(rawValue: 9)
    /// ID_DER_ASN1_GN (10): a DER-encoded X.509 GeneralName.
    public static let derASN1GeneralName = IKEv2IdentificationType(rawValue: 10)
    /// ID_KEY_ID (11): opaque octets.
    public static let keyID = IKEv2IdentificationType(rawValue: 11)
}
