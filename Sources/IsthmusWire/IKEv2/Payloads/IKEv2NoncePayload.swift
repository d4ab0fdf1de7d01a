/// The Nonce payload, Ni or Nr (RFC 7296 section 3.9).
public struct IKEv2NoncePayload: PayloadBody {
    /// The nonce: between ``WireLimits/minimumIKEv2NonceLength`` (16) and
    /// ``WireLimits/maximumIKEv2NonceLength`` (256) bytes.
    public var nonce: [UInt8]

    /// Creates a nonce payload.
    /// - Precondition: the nonce is 16 to 256 bytes long (RFC 7296 section 3.9).
    public init(nonce: [UInt8]) {
        precondition(
            (WireLimits.minimumIKEv2NonceLength...WireLimits.maximumIKEv2NonceLength).contains(nonce.count),
            "IKEv2 nonce must be 16 to 256 bytes"
        )
        self.nonce = nonce
    }

    init(parsing body: inout WireReader) throws(WireError) {
        let start = body.offset
        let nonce = body.readRemaining()
        guard (WireLimits.minimumIKEv2NonceLength...WireLimits.maximumIKEv2NonceLength).contains(nonce.count) else {
            throw WireError(.invalidValue, at: start, "nonce of \(nonce.count) bytes, RFC 7296 requires 16 to 256")
        }
        self.nonce = Array(nonce)
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeBytes(self.nonce)
    }
}
