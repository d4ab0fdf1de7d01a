import CLibcrypto

/// CBC-mode block ciphers on the system libcrypto: AES-128/192/256 (ENCR_AES_CBC, RFC 3602), 3DES-EDE
/// (ENCR_3DES, RFC 2451) and single DES (ENCR_DES, RFC 2405, for legacy peers).
///
/// AES and 3DES use `EVP_aes_*_cbc` / `EVP_des_ede3_cbc` from the default provider; DES-CBC is fetched
/// from a private library context with OpenSSL 3's legacy provider (see `LibcryptoProviders`). One
/// keyed context per direction is made for the SA (key schedule once); a packet only re-initialises it
/// with the packet's IV, which allocates nothing. swift-crypto's ``AESCBCCipher`` stays as an
/// independent AES implementation that tests cross-check this one against.
public struct LibcryptoCBCCipher: CipherTransform {
    /// The AES block size and CBC IV length in bytes (RFC 3602 section 2.4).
    static let aesBlockSize = 16
    /// The DES block size and CBC IV length in bytes (RFC 2451 section 2.3, RFC 2405 section 5).
    static let desBlockSize = 8

    public let transformID: UInt16
    public let blockSize: Int

    private let encryptContext: LibcryptoCipherContext
    private let decryptContext: LibcryptoCipherContext

    /// Creates the per-SA state; `cipher` must be a CBC cipher of `blockSize`-byte blocks whose key
    /// length is `key.count` (checked by the factory).
    init(transformID: UInt16, cipher: OpaquePointer, blockSize: Int, key: SecretBytes) throws(IsthmusCryptoError) {
        guard EVP_CIPHER_get_block_size(cipher) == Int32(blockSize),
            EVP_CIPHER_get_iv_length(cipher) == Int32(blockSize),
            EVP_CIPHER_get_key_length(cipher) == Int32(key.count)
        else {
            throw .backendFailure("cipher does not have \(blockSize)-byte blocks and a \(key.count)-byte key")
        }
        self.transformID = transformID
        self.blockSize = blockSize
        self.encryptContext = try LibcryptoCipherContext(cipher: cipher, key: key, encrypt: true)
        self.decryptContext = try LibcryptoCipherContext(cipher: cipher, key: key, encrypt: false)
    }

    /// AES-CBC with a 16-, 24- or 32-byte key.
    static func aes(transformID: UInt16, key: SecretBytes) throws(IsthmusCryptoError) -> LibcryptoCBCCipher {
        let cipher: OpaquePointer?
        switch key.count {
        case 16: cipher = EVP_aes_128_cbc()
        case 24: cipher = EVP_aes_192_cbc()
        case 32: cipher = EVP_aes_256_cbc()
        default: throw .invalidKeySize(expected: 32, got: key.count)
        }
        guard let cipher else { throw .backendFailure("EVP_aes_*_cbc unavailable") }
        return try LibcryptoCBCCipher(transformID: transformID, cipher: cipher, blockSize: aesBlockSize, key: key)
    }

    public func encrypt(_ payload: UnsafeMutableRawBufferPointer, iv: UnsafeRawBufferPointer)
        throws(IsthmusCryptoError)
    {
        try check(payload, iv)
        guard encryptContext.cipherInPlace(payload, iv: iv) else { throw .backendFailure("CBC encryption failed") }
    }

    public func decrypt(_ payload: UnsafeMutableRawBufferPointer, iv: UnsafeRawBufferPointer)
        throws(IsthmusCryptoError)
    {
        try check(payload, iv)
        guard decryptContext.cipherInPlace(payload, iv: iv) else { throw .backendFailure("CBC decryption failed") }
    }

    /// ``CipherTransform``'s layout check, without the protocol extension's generic call.
    private func check(_ payload: UnsafeMutableRawBufferPointer, _ iv: UnsafeRawBufferPointer)
        throws(IsthmusCryptoError)
    {
        guard iv.count == blockSize, payload.count % blockSize == 0 else {
            throw .invalidPacketLayout(
                "CBC needs a \(blockSize)-byte IV and whole blocks, got IV \(iv.count) and \(payload.count) bytes")
        }
    }
}
