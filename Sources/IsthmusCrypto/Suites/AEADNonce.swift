/// Nonce construction shared by the RFC 4106 / RFC 7634 AEADs.
enum AEADNonce {
    /// Bytes of salt taken from the end of the key material (RFC 4106 section 4, RFC 7634 section 2).
    static let saltLength = 4
    /// Bytes of explicit IV carried in each packet (RFC 4106 section 3.1, RFC 7634 section 2).
    static let ivLength = 8
    /// Bytes of the full nonce: salt || IV.
    static let nonceLength = saltLength + ivLength

    /// Calls `body` with the 12-byte nonce `salt || iv`, built on the stack.
    static func withNonce<R, E: Error>(
        salt: [UInt8],
        iv: UnsafeRawBufferPointer,
        _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        var nonce: (UInt64, UInt32) = (0, 0)
        return try withUnsafeMutableBytes(of: &nonce) { (raw) throws(E) -> R in
            let buffer = UnsafeMutableRawBufferPointer(rebasing: raw[0..<nonceLength])
            salt.withUnsafeBytes { buffer.copyMemory(from: $0) }
            UnsafeMutableRawBufferPointer(rebasing: buffer[saltLength...]).copyMemory(from: iv)
            return try body(UnsafeRawBufferPointer(buffer))
        }
    }
}
