/// The Notify payload (RFC 7296 section 3.10).
public struct IKEv2NotifyPayload: PayloadBody {
    /// The protocol of the SA the notification is about, or ``IKEv2ProtocolID/none``.
    public var protocolID: IKEv2ProtocolID
    /// The SPI of that SA; empty when the notification is not about a Child SA.
    public var spi: [UInt8]
    public var notifyType: IKEv2NotifyType
    /// Type-specific data (for example the cookie, or a NAT detection hash).
    public var data: [UInt8]

    /// Creates a notification.
    /// - Precondition: the SPI is at most ``WireLimits/maximumSPISize`` bytes.
    public init(
        protocolID: IKEv2ProtocolID = .none,
        spi: [UInt8] = [],
        notifyType: IKEv2NotifyType,
        data: [UInt8] = []
    ) {
        precondition(spi.count <= WireLimits.maximumSPISize, "SPI too long")
        self.protocolID = protocolID
        self.spi = spi
        self.notifyType = notifyType
        self.data = data
    }

    init(parsing body: inout WireReader) throws(WireError) {
        self.protocolID = IKEv2ProtocolID(rawValue: try body.expectUInt8("notify protocol ID"))
        let spiSizeOffset = body.offset
        let spiSize = Int(try body.expectUInt8("notify SPI size"))
        self.notifyType = IKEv2NotifyType(rawValue: try body.expectUInt16("notify message type"))
        guard spiSize <= WireLimits.maximumSPISize else {
            throw WireError(.invalidValue, at: spiSizeOffset, "notify SPI size \(spiSize)")
        }
        self.spi = try body.expectBytes(spiSize, "notify SPI")
        self.data = Array(body.readRemaining())
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeUInt8(self.protocolID.rawValue)
        writer.writeUInt8(UInt8(self.spi.count))
        writer.writeInteger(self.notifyType.rawValue)
        writer.writeBytes(self.spi)
        writer.writeBytes(self.data)
    }
}
