/// A payload whose body is opaque data and nothing else.
///
/// In IKEv1: Key Exchange, Hash, Signature and Vendor ID (RFC 2408 sections 3.7, 3.11, 3.12 and
/// 3.16) and NAT-D (RFC 3947 section 3.2). In IKEv2: Vendor ID (RFC 7296 section 3.12) and EAP, whose
/// data is one EAP message (RFC 7296 section 3.16, RFC 3748).
public struct DataPayload: PayloadBody {
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

/// The name IKEv1 code gives ``DataPayload``.
public typealias ISAKMPDataPayload = DataPayload
