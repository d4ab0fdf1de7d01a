/// The NAT Original Address payload, NAT-OA (RFC 3947 section 5.1).
public struct ISAKMPNATOriginalAddressPayload: PayloadBody {
    /// ``ISAKMPIdentificationType/ipv4Address`` or ``ISAKMPIdentificationType/ipv6Address``.
    public var idType: ISAKMPIdentificationType
    /// The original address, 4 or 16 bytes.
    public var address: [UInt8]

    /// Creates a NAT-OA payload.
    /// - Precondition: an IPv4 type with 4 bytes or an IPv6 type with 16 bytes.
    public init(idType: ISAKMPIdentificationType, address: [UInt8]) {
        precondition(Self.isAddress(address, of: idType), "NAT-OA needs one IPv4 or IPv6 address")
        self.idType = idType
        self.address = address
    }

    /// Whether `idType` is ID_IPV4_ADDR or ID_IPV6_ADDR and `address` has its length.
    static func isAddress(_ address: [UInt8], of idType: ISAKMPIdentificationType) -> Bool {
        (idType == .ipv4Address || idType == .ipv6Address) && address.count == idType.dataLength
    }

    init(parsing body: inout WireReader) throws(WireError) {
        let start = body.offset
        self.idType = ISAKMPIdentificationType(rawValue: try body.expectUInt8("NAT-OA ID type"))
        _ = try body.expectSlice(3, "NAT-OA reserved")
        self.address = Array(body.readRemaining())
        guard Self.isAddress(self.address, of: self.idType) else {
            throw WireError(
                .invalidValue, at: start,
                "NAT-OA type \(self.idType.rawValue) with \(self.address.count) address bytes"
            )
        }
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeUInt8(self.idType.rawValue)
        writer.writeZeros(3)
        writer.writeBytes(self.address)
    }
}
