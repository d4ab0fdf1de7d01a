import Crypto
import CryptoExtras
import Foundation

/// AES in CBC mode (ENCR_AES_CBC, RFC 3602) with 128-, 192- or 256-bit keys, on swift-crypto 4.5.2
/// `CryptoExtras` (`AES._CBC` with `noPadding: true`, backed by BoringSSL `AES_cbc_encrypt`).
///
/// Confidentiality only: pair with an ``IntegrityTransform`` (encrypt-then-MAC).
///
/// - Note: not what the factory builds: `AES._CBC` allocates its output per call. ``LibcryptoCBCCipher``
///   is the backend; this type stays as an independent implementation that tests cross-check it against.
public struct AESCBCCipher: CipherTransform {
    /// The AES block size and CBC IV length in bytes (RFC 3602 section 2.4).
    static let aesBlockSize = 16

    public let transformID: UInt16
    public var blockSize: Int { Self.aesBlockSize }

    private let key: SymmetricKey

    /// Creates the per-SA state from a 16-, 24- or 32-byte key.
    init(transformID: UInt16, key: SecretBytes) {
        self.transformID = transformID
        self.key = key.withUnsafeBytes { SymmetricKey(data: $0) }
    }

    public func encrypt(_ payload: UnsafeMutableRawBufferPointer, iv: UnsafeRawBufferPointer)
        throws(IsthmusCryptoError)
    {
        try inPlace(payload, iv: iv, "encryption") { try AES._CBC.encrypt($0, using: key, iv: $1, noPadding: true) }
    }

    public func decrypt(_ payload: UnsafeMutableRawBufferPointer, iv: UnsafeRawBufferPointer)
        throws(IsthmusCryptoError)
    {
        try inPlace(payload, iv: iv, "decryption") { try AES._CBC.decrypt($0, using: key, iv: $1, noPadding: true) }
    }

    /// Runs one of swift-crypto's CBC calls over `payload` and copies its output back into `payload`; the
    /// copy it allocated is wiped (after a decryption it holds plaintext).
    private func inPlace(
        _ payload: UnsafeMutableRawBufferPointer, iv: UnsafeRawBufferPointer, _ operation: String,
        _ cbc: (UnsafeRawBufferPointer, AES._CBC.IV) throws -> Data
    ) throws(IsthmusCryptoError) {
        try validate(payload, iv: iv)
        guard payload.count > 0 else { return }
        do {
            var output = try cbc(UnsafeRawBufferPointer(payload), AES._CBC.IV(ivBytes: iv))
            output.withUnsafeMutableBytes { result in
                payload.copyMemory(from: UnsafeRawBufferPointer(result))
                SecureZero.wipe(result)
            }
        } catch {
            throw .backendFailure("AES-CBC \(operation) failed: \(error)")
        }
    }
}
