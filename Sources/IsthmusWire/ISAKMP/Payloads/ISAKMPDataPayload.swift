/// A payload that is only opaque data (KE, HASH, SIG, VID, NAT-D).
public struct ISAKMPDataPayload: PayloadBody {
    public var data: [UInt8]

    public init(data: [UInt8]) {
        self.data = data
    }

    init(parsing body: inout WireReader) throws(WireError) {
        self.data = Array(body.readRemaining())
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeBytes(self.data)
    }
}
