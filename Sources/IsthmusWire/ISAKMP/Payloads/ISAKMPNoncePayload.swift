/// The Nonce payload (RFC 2408 section 3.13); 8 to 256 bytes (RFC 2409 section 5).
public struct ISAKMPNoncePayload: PayloadBody {
    public var nonce: [UInt8]

    /// Creates a nonce payload.
    /// - Precondition: 8 to 256 bytes (RFC 2409 section 5).
    public init(nonce: [UInt8]) {
        precondition(
            (WireLimits.minimumIKEv1NonceLength...WireLimits.maximumIKEv1NonceLength).contains(nonce.count),
            "IKEv1 nonce must be 8 to 256 bytes"
        )
        self.nonce = nonce
    }

    init(parsing body: inout WireReader) throws(WireError) {
        let start = body.offset
        let nonce = body.readRemaining()
        guard (WireLimits.minimumIKEv1NonceLength...WireLimits.maximumIKEv1NonceLength).contains(nonce.count) else {
            throw WireError(.invalidValue, at: start, "nonce of \(nonce.count) bytes, RFC 2409 requires 8 to 256")
        }
        self.nonce = Array(nonce)
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeBytes(self.nonce)
    }
}
