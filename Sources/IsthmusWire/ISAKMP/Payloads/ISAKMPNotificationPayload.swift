/// The Notification payload (RFC 2408 section 3.14).
public struct ISAKMPNotificationPayload: PayloadBody {
    public var doi: UInt32
    public var protocolID: ISAKMPProtocolID
    /// The SPI; for R-U-THERE (RFC 3706) the 16-byte cookie pair, for Phase 2 the 4-byte SPI.
    public var spi: [UInt8]
    public var notifyType: ISAKMPNotifyType
    /// Notification data; for R-U-THERE / R-U-THERE-ACK a 4-byte sequence number.
    public var data: [UInt8]

    /// Creates a notification.
    /// - Precondition: SPI at most ``WireLimits/maximumSPISize`` bytes.
    public init(
        doi: UInt32 = ISAKMPProtocolID.ipsecDOI,
        protocolID: ISAKMPProtocolID,
        spi: [UInt8] = [],
        notifyType: ISAKMPNotifyType,
        data: [UInt8] = []
    ) {
        precondition(spi.count <= WireLimits.maximumSPISize, "SPI too long")
        self.doi = doi
        self.protocolID = protocolID
        self.spi = spi
        self.notifyType = notifyType
        self.data = data
    }

    init(parsing body: inout WireReader) throws(WireError) {
        self.doi = try body.expectUInt32("notification DOI")
        self.protocolID = ISAKMPProtocolID(rawValue: try body.expectUInt8("notification protocol"))
        let spiSizeOffset = body.offset
        let spiSize = Int(try body.expectUInt8("notification SPI size"))
        self.notifyType = ISAKMPNotifyType(rawValue: try body.expectUInt16("notification type"))
        guard spiSize <= WireLimits.maximumSPISize else {
            throw WireError(.invalidValue, at: spiSizeOffset, "notification SPI size \(spiSize)")
        }
        self.spi = try body.expectBytes(spiSize, "notification SPI")
        self.data = Array(body.readRemaining())
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeInteger(self.doi)
        writer.writeUInt8(self.protocolID.rawValue)
        writer.writeUInt8(UInt8(self.spi.count))
        writer.writeInteger(self.notifyType.rawValue)
        writer.writeBytes(self.spi)
        writer.writeBytes(self.data)
    }
}
