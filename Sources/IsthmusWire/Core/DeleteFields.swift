/// The fields of a Delete payload that both versions share: all of IKEv2's (RFC 7296 section 3.11),
/// all of ISAKMP's after the DOI (RFC 2408 section 3.15). ``IKEv2DeletePayload`` and
/// ``ISAKMPDeletePayload`` give them their protocol's types; this reads and writes them once for both.
///
/// ```
/// Protocol-ID (1) | SPI Size (1) | # of SPIs (2) | SPIs (# of SPIs x SPI Size)
/// ```
struct DeleteFields {
    var protocolID: UInt8
    var spiSize: UInt8
    var spis: [[UInt8]]

    /// Reads the fields from a reader bounded to the rest of the body, which the SPIs must fill.
    ///
    /// - Parameter minimumSPISize: 0 in IKEv2, whose delete of the IKE SA lists no SPI; 1 in ISAKMP,
    ///   which names even the ISAKMP SA by an SPI (the cookie pair).
    static func parse(from body: inout WireReader, minimumSPISize: UInt8) throws(WireError) -> DeleteFields {
        let protocolID = try body.expectUInt8("delete protocol ID")
        let sizeOffset = body.offset
        let spiSize = try body.expectUInt8("delete SPI size")
        let count = Int(try body.expectUInt16("delete SPI count"))
        guard spiSize >= minimumSPISize, Int(spiSize) <= WireLimits.maximumSPISize else {
            throw WireError(.invalidValue, at: sizeOffset, "delete SPI size \(spiSize)")
        }
        guard count <= WireLimits.maximumDeleteSPICount else {
            throw WireError(.limitExceeded, at: sizeOffset + 1, "\(count) SPIs in a delete payload")
        }
        guard spiSize > 0 || count == 0 else {
            throw WireError(.invalidValue, at: sizeOffset + 1, "\(count) SPIs of size zero")
        }
        guard count * Int(spiSize) == body.remaining else {
            throw WireError(
                .lengthMismatch, at: sizeOffset + 1,
                "\(count) SPIs of \(spiSize) bytes but \(body.remaining) bytes present"
            )
        }
        var spis: [[UInt8]] = []
        spis.reserveCapacity(count)
        for _ in 0..<count {
            spis.append(try body.expectBytes(Int(spiSize), "delete SPI"))
        }
        return DeleteFields(protocolID: protocolID, spiSize: spiSize, spis: spis)
    }

    func serialize(into writer: inout WireWriter) {
        writer.writeUInt8(self.protocolID)
        writer.writeUInt8(self.spiSize)
        writer.writeInteger(UInt16(self.spis.count))
        for spi in self.spis {
            writer.writeBytes(spi)
        }
    }
}
