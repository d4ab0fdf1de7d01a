/// A confidentiality-only block cipher mode (CBC), per SA.
///
/// - Important: ``decrypt(_:iv:)`` returns unauthenticated plaintext. ESP and IKEv2 must go through
///   ``LibcryptoEncryptThenMACProtection``, which verifies the ICV first. Only IKEv1, whose integrity comes
///   from HASH payloads inside the encrypted message (RFC 2409 section 5), calls it directly.
public protocol CipherTransform: Sendable {
    /// The IKEv2 transform ID (RFC 7296 section 3.3.2, IANA "Transform Type 1").
    var transformID: UInt16 { get }
    /// The cipher block size in bytes; also the IV length.
    var blockSize: Int { get }
    /// Encrypts `payload` (a whole number of blocks) in place in CBC mode.
    func encrypt(_ payload: UnsafeMutableRawBufferPointer, iv: UnsafeRawBufferPointer) throws(IsthmusCryptoError)
    /// Decrypts `payload` (a whole number of blocks) in place in CBC mode. Unauthenticated.
    func decrypt(_ payload: UnsafeMutableRawBufferPointer, iv: UnsafeRawBufferPointer) throws(IsthmusCryptoError)
}

extension CipherTransform {
    func validate(
        _ payload: UnsafeMutableRawBufferPointer, iv: UnsafeRawBufferPointer
    ) throws(IsthmusCryptoError) {
        guard iv.count == blockSize else {
            throw .invalidPacketLayout("IV must be \(blockSize) bytes, got \(iv.count)")
        }
        guard payload.count % blockSize == 0 else {
            throw .invalidPacketLayout("payload of \(payload.count) bytes is not a multiple of \(blockSize)")
        }
    }
}
