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
        let doi = try body.expectUInt32("notification DOI")
        let fields = try NotifyFields.parse(from: &body)
        self.init(
            doi: doi,
            protocolID: ISAKMPProtocolID(rawValue: fields.protocolID),
            spi: fields.spi,
            notifyType: ISAKMPNotifyType(rawValue: fields.notifyType),
            data: fields.data
        )
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeInteger(self.doi)
        let fields = NotifyFields(
            protocolID: self.protocolID.rawValue, notifyType: self.notifyType.rawValue, spi: self.spi, data: self.data)
        fields.serialize(into: &writer)
    }
}
