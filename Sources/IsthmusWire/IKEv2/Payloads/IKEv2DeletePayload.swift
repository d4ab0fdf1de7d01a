/// The Delete payload (RFC 7296 section 3.11).
///
/// Deleting the IKE SA uses protocol ``IKEv2ProtocolID/ike`` with SPI size 0 and no SPIs; deleting
/// Child SAs lists their inbound 4-byte SPIs.
public struct IKEv2DeletePayload: PayloadBody {
    public var protocolID: IKEv2ProtocolID
    /// The SPI size in bytes, kept explicitly because an empty list still carries it.
    public var spiSize: UInt8
    public var spis: [[UInt8]]

    /// Creates a delete payload.
    /// - Precondition: every SPI has `spiSize` bytes and there are at most 65535 of them.
    public init(protocolID: IKEv2ProtocolID, spiSize: UInt8, spis: [[UInt8]]) {
        precondition(spis.allSatisfy { $0.count == Int(spiSize) }, "SPI of the wrong size")
        precondition(spis.count <= Int(UInt16.max), "too many SPIs")
        self.protocolID = protocolID
        self.spiSize = spiSize
        self.spis = spis
    }

    init(parsing body: inout WireReader) throws(WireError) {
        let start = body.offset
        self.protocolID = IKEv2ProtocolID(rawValue: try body.expectUInt8("delete protocol ID"))
        self.spiSize = try body.expectUInt8("delete SPI size")
        let count = Int(try body.expectUInt16("delete SPI count"))
        guard Int(self.spiSize) <= WireLimits.maximumSPISize else {
            throw WireError(.invalidValue, at: start + 1, "delete SPI size \(self.spiSize)")
        }
        guard count <= WireLimits.maximumDeleteSPICount else {
            throw WireError(.limitExceeded, at: start + 2, "\(count) SPIs in a delete payload")
        }
        guard self.spiSize > 0 || count == 0 else {
            throw WireError(.invalidValue, at: start + 2, "\(count) SPIs of size zero")
        }
        guard count * Int(self.spiSize) == body.remaining else {
            throw WireError(
                .lengthMismatch,
                at: start,
                "\(count) SPIs of \(self.spiSize) bytes but \(body.remaining) bytes present"
            )
        }
        var spis: [[UInt8]] = []
        spis.reserveCapacity(count)
        for _ in 0..<count {
            spis.append(try body.expectBytes(Int(self.spiSize), "delete SPI"))
        }
        self.spis = spis
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeUInt8(self.protocolID.rawValue)
        writer.writeUInt8(self.spiSize)
        writer.writeInteger(UInt16(self.spis.count))
        for spi in self.spis {
            writer.writeBytes(spi)
        }
    }
}
