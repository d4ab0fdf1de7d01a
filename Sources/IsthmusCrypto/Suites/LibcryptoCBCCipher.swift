import CLibcrypto

/// 3DES-EDE and single DES in CBC mode (ENCR_3DES, RFC 2451; ENCR_DES, RFC 2405) on the system
/// libcrypto, for legacy peers.
///
/// 3DES uses `EVP_des_ede3_cbc` from the default provider; DES-CBC is fetched from a private library
/// context with OpenSSL 3's legacy provider (see `LibcryptoProviders`). One keyed context per
/// direction is kept for the SA.
public struct LibcryptoCBCCipher: CipherTransform {
    /// The DES block size and CBC IV length in bytes (RFC 2451 section 2.3, RFC 2405 section 5).
    static let desBlockSize = 8

    public let transformID: UInt16
    public var blockSize: Int { Self.desBlockSize }

    private let encryptContext: LibcryptoCipherContext
    private let decryptContext: LibcryptoCipherContext

    init(transformID: UInt16, cipher: OpaquePointer, key: SecretBytes) throws(CryptoSuiteError) {
        self.transformID = transformID
        self.encryptContext = try LibcryptoCipherContext(cipher: cipher, key: key, encrypt: true)
        self.decryptContext = try LibcryptoCipherContext(cipher: cipher, key: key, encrypt: false)
    }

    public func encrypt(_ payload: UnsafeMutableRawBufferPointer, iv: UnsafeRawBufferPointer) throws(CryptoSuiteError) {
        try validate(payload, iv: iv)
        try run(encryptContext, payload, iv)
    }

    public func decrypt(_ payload: UnsafeMutableRawBufferPointer, iv: UnsafeRawBufferPointer) throws(CryptoSuiteError) {
        try validate(payload, iv: iv)
        try run(decryptContext, payload, iv)
    }

    private func run(
        _ cipherContext: LibcryptoCipherContext,
        _ payload: UnsafeMutableRawBufferPointer,
        _ iv: UnsafeRawBufferPointer
    ) throws(CryptoSuiteError) {
        try cipherContext.withContext { (context) throws(CryptoSuiteError) in
            try EVP.setIV(context, iv)
            try EVP.updateInPlace(context, payload)
            guard EVP.finish(context) else { throw .backend("EVP_CipherFinal_ex failed") }
        }
    }
}
