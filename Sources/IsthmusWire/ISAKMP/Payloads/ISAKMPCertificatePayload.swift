/// The Certificate (RFC 2408 section 3.9) and Certificate Request (section 3.10) payloads,
/// which share one layout: an encoding octet then data (certificate, or certificate authority).
public struct ISAKMPCertificatePayload: PayloadBody {
    /// X.509 Certificate - Signature (4), RFC 2408 section 3.9.
    public static let x509SignatureEncoding: UInt8 = 4

    public var encoding: UInt8
    public var data: [UInt8]

    public init(encoding: UInt8, data: [UInt8]) {
        self.encoding = encoding
        self.data = data
    }

    init(parsing body: inout WireReader) throws(WireError) {
        self.encoding = try body.expectUInt8("certificate encoding")
        self.data = Array(body.readRemaining())
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeUInt8(self.encoding)
        writer.writeBytes(self.data)
    }
}
