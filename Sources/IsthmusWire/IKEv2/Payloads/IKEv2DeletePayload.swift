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
        let fields = try DeleteFields.parse(from: &body, minimumSPISize: 0)
        self.init(protocolID: IKEv2ProtocolID(rawValue: fields.protocolID), spiSize: fields.spiSize, spis: fields.spis)
    }

    func serializeBody(into writer: inout WireWriter) {
        DeleteFields(protocolID: self.protocolID.rawValue, spiSize: self.spiSize, spis: self.spis)
            .serialize(into: &writer)
    }
}
