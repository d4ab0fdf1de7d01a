/// The Vendor ID payload (RFC 7296 section 3.12): opaque bytes, usually a hash.
public struct IKEv2VendorIDPayload: PayloadBody {
    public var vendorID: [UInt8]

    public init(vendorID: [UInt8]) {
        self.vendorID = vendorID
    }

    init(parsing body: inout WireReader) throws(WireError) {
        self.vendorID = Array(body.readRemaining())
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeBytes(self.vendorID)
    }
}
