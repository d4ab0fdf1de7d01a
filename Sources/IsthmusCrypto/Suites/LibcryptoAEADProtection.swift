import CLibcrypto

/// AES-GCM with an 8-, 12- or 16-octet ICV (ENCR_AES_GCM_8/12/16, RFC 4106) and ChaCha20-Poly1305
/// (ENCR_CHACHA20_POLY1305, RFC 7634) on the system libcrypto.
///
/// Both share the ESP layout: key || 4-byte salt, nonce = salt || 8-byte IV, AAD = SPI || sequence.
/// This is the backend for every GCM ICV length: swift-crypto only produces and checks 16-byte tags
/// and builds a new context per call, whereas here `EVP_aes_*_gcm` keeps one keyed context per
/// direction (`EVP_CTRL_GCM_SET_TAG` / `GET_TAG` with the ICV length), so a packet only costs an IV
/// reset. Key material is `key || salt` (RFC 4106 section 8.1, RFC 7634 section 2).
public struct LibcryptoAEADProtection: PacketProtection {
    /// AES key lengths in bytes (FIPS 197).
    static let aes128KeyLength = 16
    static let aes192KeyLength = 24
    static let aes256KeyLength = 32

    /// The IKEv2 transform ID (18, 19 or 20).
    public let transformID: UInt16
    public let icvLength: Int
    public var ivLength: Int { AEADNonce.ivLength }
    public var blockSize: Int { 1 }

    private let salt: [UInt8]
    private let sealContext: LibcryptoCipherContext
    private let openContext: LibcryptoCipherContext

    /// ChaCha20-Poly1305 key length in bytes (RFC 8439).
    static let chaChaKeyLength = 32
    /// Its tag length (RFC 7634: always 16).
    static let chaChaICVLength = 16

    /// Creates the per-SA state from `keyMaterial` = AES key || 4-byte salt.
    init(transformID: UInt16, keyMaterial: SecretBytes, icvLength: Int) throws(IsthmusCryptoError) {
        let keyLength = keyMaterial.count - AEADNonce.saltLength
        let cipher: OpaquePointer?
        switch keyLength {
        case Self.aes128KeyLength: cipher = EVP_aes_128_gcm()
        case Self.aes192KeyLength: cipher = EVP_aes_192_gcm()
        case Self.aes256KeyLength: cipher = EVP_aes_256_gcm()
        default: throw .invalidKeySize(expected: Self.aes256KeyLength + AEADNonce.saltLength, got: keyMaterial.count)
        }
        guard let cipher else { throw .backendFailure("EVP_aes_*_gcm unavailable") }
        try self.init(transformID: transformID, cipher: cipher, keyMaterial: keyMaterial, icvLength: icvLength)
    }

    /// Creates ChaCha20-Poly1305 state from `keyMaterial` = 32-byte key || 4-byte salt (RFC 7634 section 2).
    init(chaCha20Poly1305 transformID: UInt16, keyMaterial: SecretBytes) throws(IsthmusCryptoError) {
        guard keyMaterial.count == Self.chaChaKeyLength + AEADNonce.saltLength else {
            throw .invalidKeySize(expected: Self.chaChaKeyLength + AEADNonce.saltLength, got: keyMaterial.count)
        }
        guard let cipher = EVP_chacha20_poly1305() else { throw .backendFailure("EVP_chacha20_poly1305 unavailable") }
        try self.init(
            transformID: transformID, cipher: cipher, keyMaterial: keyMaterial, icvLength: Self.chaChaICVLength)
    }

    private init(transformID: UInt16, cipher: OpaquePointer, keyMaterial: SecretBytes, icvLength: Int)
        throws(IsthmusCryptoError)
    {
        let keyLength = keyMaterial.count - AEADNonce.saltLength
        let key = keyMaterial.prefix(keyLength)
        self.transformID = transformID
        self.icvLength = icvLength
        self.salt = keyMaterial.withUnsafeBytes { Array($0[keyLength...]) }
        self.sealContext = try LibcryptoCipherContext(
            cipher: cipher, key: key, encrypt: true, ivLength: AEADNonce.nonceLength
        )
        self.openContext = try LibcryptoCipherContext(
            cipher: cipher, key: key, encrypt: false, ivLength: AEADNonce.nonceLength
        )
    }

    public func seal(
        _ packet: UnsafeMutableRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer
    ) throws(IsthmusCryptoError) {
        try withNonceSet(sealContext, packet, trailingData) { (context, payload, icv) throws(IsthmusCryptoError) in
            try EVP.updateAAD(context, associatedData)
            try EVP.updateInPlace(context, payload)
            guard EVP.finish(context),
                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(icv.count), icv.baseAddress) == 1
            else {
                throw .backendFailure("AEAD finalisation failed")
            }
        }
    }

    public func open(
        _ packet: UnsafeMutableRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer
    ) throws(IsthmusCryptoError) {
        try withNonceSet(openContext, packet, trailingData) { (context, payload, icv) throws(IsthmusCryptoError) in
            guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(icv.count), icv.baseAddress) == 1 else {
                throw .backendFailure("EVP_CTRL_GCM_SET_TAG failed")
            }
            do throws(IsthmusCryptoError) {
                try EVP.updateAAD(context, associatedData)
                try EVP.updateInPlace(context, payload)
            } catch {
                SecureZero.wipe(payload)
                throw error
            }
            guard EVP.finish(context) else {
                // The payload is decrypted in place before the tag is known: never hand that plaintext out.
                SecureZero.wipe(payload)
                ERR_clear_error()
                throw .authenticationFailure()
            }
        }
    }

    /// What sealing and opening share: checks the layout, splits `packet` into IV, payload and ICV (whose
    /// size is the tag length), and runs `body` on `context` once its nonce (salt || IV) is set.
    private func withNonceSet(
        _ context: LibcryptoCipherContext, _ packet: UnsafeMutableRawBufferPointer,
        _ trailingData: UnsafeRawBufferPointer,
        _ body: (OpaquePointer, UnsafeMutableRawBufferPointer, UnsafeMutableRawBufferPointer) throws(IsthmusCryptoError)
            -> Void
    ) throws(IsthmusCryptoError) {
        try requireNoTrailingData(trailingData)
        let (iv, payload, icv) = try split(packet)
        try context.withContext { (context) throws(IsthmusCryptoError) in
            try AEADNonce.withNonce(salt: salt, iv: UnsafeRawBufferPointer(iv)) { (nonce) throws(IsthmusCryptoError) in
                try EVP.setIV(context, nonce)
            }
            try body(context, payload, icv)
        }
    }
}
