/// The Delete payload (RFC 2408 section 3.15).
public struct ISAKMPDeletePayload: PayloadBody {
    public var doi: UInt32
    public var protocolID: ISAKMPProtocolID
    /// The SPI size: 16 for an ISAKMP SA (cookie pair), 4 for ESP/AH.
    public var spiSize: UInt8
    public var spis: [[UInt8]]

    /// Creates a delete payload.
    /// - Precondition: every SPI has `spiSize` bytes, at most 65535 SPIs.
    public init(
        doi: UInt32 = ISAKMPProtocolID.ipsecDOI,
        protocolID: ISAKMPProtocolID,
        spiSize: UInt8,
        spis: [[UInt8]]
    ) {
        precondition(spis.allSatisfy { $0.count == Int(spiSize) } && spis.count <= Int(UInt16.max))
        self.doi = doi
        self.protocolID = protocolID
        self.spiSize = spiSize
        self.spis = spis
    }

    init(parsing body: inout WireReader) throws(WireError) {
        let start = body.offset
        self.doi = try body.expectUInt32("delete DOI")
        self.protocolID = ISAKMPProtocolID(rawValue: try body.expectUInt8("delete protocol"))
        self.spiSize = try body.expectUInt8("delete SPI size")
        let count = Int(try body.expectUInt16("delete SPI count"))
        guard self.spiSize > 0, Int(self.spiSize) <= WireLimits.maximumSPISize else {
            throw WireError(.invalidValue, at: start + 5, "delete SPI size \(self.spiSize)")
        }
        guard count <= WireLimits.maximumDeleteSPICount else {
            throw WireError(.limitExceeded, at: start + 6, "\(count) SPIs in a delete payload")
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
        writer.writeInteger(self.doi)
        writer.writeUInt8(self.protocolID.rawValue)
        writer.writeUInt8(self.spiSize)
        writer.writeInteger(UInt16(self.spis.count))
        for spi in self.spis {
            writer.writeBytes(spi)
        }
    }
}
