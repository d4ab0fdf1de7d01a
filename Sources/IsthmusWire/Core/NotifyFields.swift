/// The fields of a Notify payload that both versions share: all of IKEv2's (RFC 7296 section 3.10),
/// all of ISAKMP's after the DOI (RFC 2408 section 3.14). ``IKEv2NotifyPayload`` and
/// ``ISAKMPNotificationPayload`` give them their protocol's types; this reads and writes them once
/// for both.
///
/// ```
/// Protocol-ID (1) | SPI Size (1) | Notify Message Type (2) | SPI | Notification Data
/// ```
struct NotifyFields {
    var protocolID: UInt8
    var notifyType: UInt16
    var spi: [UInt8]
    var data: [UInt8]

    /// Reads the fields from a reader bounded to the rest of the body; the data is what follows the SPI.
    static func parse(from body: inout WireReader) throws(WireError) -> NotifyFields {
        let protocolID = try body.expectUInt8("notify protocol ID")
        let spiSizeOffset = body.offset
        let spiSize = Int(try body.expectUInt8("notify SPI size"))
        let notifyType = try body.expectUInt16("notify message type")
        guard spiSize <= WireLimits.maximumSPISize else {
            throw WireError(.invalidValue, at: spiSizeOffset, "notify SPI size \(spiSize)")
        }
        let spi = try body.expectBytes(spiSize, "notify SPI")
        return NotifyFields(protocolID: protocolID, notifyType: notifyType, spi: spi, data: Array(body.readRemaining()))
    }

    func serialize(into writer: inout WireWriter) {
        writer.writeUInt8(self.protocolID)
        writer.writeUInt8(UInt8(self.spi.count))
        writer.writeInteger(self.notifyType)
        writer.writeBytes(self.spi)
        writer.writeBytes(self.data)
    }
}
