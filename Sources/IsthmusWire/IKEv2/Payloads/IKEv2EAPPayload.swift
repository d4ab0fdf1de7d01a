/// The EAP payload (RFC 7296 section 3.16): one EAP message (RFC 3748), kept raw.
public struct IKEv2EAPPayload: PayloadBody {
    /// The EAP message: Code, Identifier, Length, Type, data.
    public var message: [UInt8]

    public init(message: [UInt8]) {
        self.message = message
    }

    init(parsing body: inout WireReader) throws(WireError) {
        self.message = Array(body.readRemaining())
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeBytes(self.message)
    }
}
