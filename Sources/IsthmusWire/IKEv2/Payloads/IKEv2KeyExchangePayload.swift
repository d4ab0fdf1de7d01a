/// The Key Exchange payload (RFC 7296 section 3.4).
public struct IKEv2KeyExchangePayload: PayloadBody {
    /// The Diffie-Hellman group / key exchange method number (Transform Type 4 IDs).
    public var group: UInt16
    /// The public value. Its length is checked against the group by the key exchange, not here.
    public var keyExchangeData: [UInt8]

    public init(group: UInt16, keyExchangeData: [UInt8]) {
        self.group = group
        self.keyExchangeData = keyExchangeData
    }

    init(parsing body: inout WireReader) throws(WireError) {
        self.group = try body.expectUInt16("KE group")
        _ = try body.expectUInt16("KE reserved")
        self.keyExchangeData = Array(body.readRemaining())
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeInteger(self.group)
        writer.writeZeros(2)
        writer.writeBytes(self.keyExchangeData)
    }
}
