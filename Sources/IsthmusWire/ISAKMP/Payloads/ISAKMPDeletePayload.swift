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
        let doi = try body.expectUInt32("delete DOI")
        let fields = try DeleteFields.parse(from: &body, minimumSPISize: 1)
        self.init(
            doi: doi,
            protocolID: ISAKMPProtocolID(rawValue: fields.protocolID),
            spiSize: fields.spiSize,
            spis: fields.spis
        )
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeInteger(self.doi)
        DeleteFields(protocolID: self.protocolID.rawValue, spiSize: self.spiSize, spis: self.spis)
            .serialize(into: &writer)
    }
}
