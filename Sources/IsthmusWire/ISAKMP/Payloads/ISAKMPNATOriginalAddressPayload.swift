/// The NAT Original Address payload, NAT-OA (RFC 3947 section 5.1).
public struct ISAKMPNATOriginalAddressPayload: PayloadBody {
    /// ``ISAKMPIdentificationType/ipv4Address`` or ``ISAKMPIdentificationType/ipv6Address``.
    public var idType: ISAKMPIdentificationType
    /// The original address, 4 or 16 bytes.
    public var address: [UInt8]

    /// Creates a NAT-OA payload.
    /// - Precondition: an IPv4 type with 4 bytes or an IPv6 type with 16 bytes.
    public init(idType: ISAKMPIdentificationType, address: [UInt8]) {
        precondition(
            (idType == .ipv4Address && address.count == 4) || (idType == .ipv6Address && address.count == 16)
        )
        self.idType = idType
        self.address = address
    }

    init(parsing body: inout WireReader) throws(WireError) {
        let start = body.offset
        self.idType = ISAKMPIdentificationType(rawValue: try body.expectUInt8("NAT-OA ID type"))
        _ = try body.expectSlice(3, "NAT-OA reserved")
        self.address = Array(body.readRemaining())
        switch (self.idType, self.address.count) {
        case (.ipv4Address, 4), (.ipv6Address, 16):
            break
        default:
            throw WireError(
                .invalidValue,
                at: start,
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
