import CLibcrypto
import Crypto

/// Factories for the negotiated transforms, keyed by IKEv2 IANA transform IDs (RFC 7296 section
/// 3.3.2; IANA "IKEv2 Transform Type 1/2/3 Transform IDs") and key length attribute in bits.
///
/// Every factory validates its input and throws ``IsthmusCryptoError``; none traps on bad input.
/// The key-size queries tell the KDF how many bytes to take for each transform.
public enum CryptoSuites {
    /// IKEv2 encryption transform IDs implemented here (Transform Type 1).
    public enum EncryptionID {
        /// ENCR_DES (RFC 2405). Insecure; interoperability only.
        public static let des: UInt16 = 2
        /// ENCR_3DES (RFC 2451).
        public static let tripleDES: UInt16 = 3
        /// ENCR_AES_CBC (RFC 3602).
        public static let aesCBC: UInt16 = 12
        /// ENCR_AES_GCM_8 (RFC 4106): 8-octet ICV.
        public static let aesGCM8: UInt16 = 18
        /// ENCR_AES_GCM_12 (RFC 4106): 12-octet ICV.
        public static let aesGCM12: UInt16 = 19
        /// ENCR_AES_GCM_16 (RFC 4106): 16-octet ICV.
        public static let aesGCM16: UInt16 = 20
        /// ENCR_CHACHA20_POLY1305 (RFC 7634).
        public static let chaCha20Poly1305: UInt16 = 28
    }

    /// IKEv2 integrity transform IDs implemented here (Transform Type 3).
    public enum IntegrityID {
        /// NONE: no separate integrity transform (AEAD ciphers, RFC 7296 section 3.3.2).
        public static let none: UInt16 = 0
        /// AUTH_HMAC_MD5_96 (RFC 2403).
        public static let hmacMD5_96: UInt16 = 1
        /// AUTH_HMAC_SHA1_96 (RFC 2404).
        public static let hmacSHA1_96: UInt16 = 2
        /// AUTH_HMAC_SHA2_256_128 (RFC 4868).
        public static let hmacSHA2_256_128: UInt16 = 12
        /// AUTH_HMAC_SHA2_384_192 (RFC 4868).
        public static let hmacSHA2_384_192: UInt16 = 13
        /// AUTH_HMAC_SHA2_512_256 (RFC 4868).
        public static let hmacSHA2_512_256: UInt16 = 14
    }

    /// IKEv2 PRF transform IDs implemented here (Transform Type 2).
    public enum PRFID {
        /// PRF_HMAC_MD5 (RFC 2104).
        public static let hmacMD5: UInt16 = 1
        /// PRF_HMAC_SHA1 (RFC 2104).
        public static let hmacSHA1: UInt16 = 2
        /// PRF_HMAC_SHA2_256 (RFC 4868).
        public static let hmacSHA2_256: UInt16 = 5
        /// PRF_HMAC_SHA2_384 (RFC 4868).
        public static let hmacSHA2_384: UInt16 = 6
        /// PRF_HMAC_SHA2_512 (RFC 4868).
        public static let hmacSHA2_512: UInt16 = 7
    }

    /// Bits in a byte.
    private static let bitsPerByte = 8
    /// AES key lengths allowed by RFC 3602 section 2.2 and RFC 4106 section 8.1.
    private static let aesKeyBits: Set<Int> = [128, 192, 256]
    /// ChaCha20 key length (RFC 7634 section 2: no Key Length attribute, always 256 bits).
    private static let chaChaKeyBits = 256
    /// 3DES key length: three 64-bit DES keys with parity bits (RFC 2451 section 2.2).
    private static let tripleDESKeyBits = 192
    /// DES key length: 64 bits including parity (RFC 2405 section 5).
    private static let desKeyBits = 64

    // MARK: Key sizes

    /// Bytes of key material the encryption transform takes from the KDF, including the 4-byte salt
    /// of AES-GCM and ChaCha20-Poly1305 (RFC 4106 section 8.1, RFC 7634 section 2).
    ///
    /// - Parameters:
    ///   - encryptionID: the IKEv2 transform ID.
    ///   - keyBits: the Key Length attribute; required for AES, optional (must match if given) for
    ///     ciphers with a fixed key length.
    public static func encryptionKeyLength(encryptionID: UInt16, keyBits: Int?) throws(IsthmusCryptoError) -> Int {
        switch encryptionID {
        case EncryptionID.aesCBC:
            return try aesKeyBytes(keyBits, encryptionID)
        case EncryptionID.aesGCM8, EncryptionID.aesGCM12, EncryptionID.aesGCM16:
            return try aesKeyBytes(keyBits, encryptionID) + AEADNonce.saltLength
        case EncryptionID.chaCha20Poly1305:
            return try fixedKeyBytes(keyBits, chaChaKeyBits, encryptionID) + AEADNonce.saltLength
        case EncryptionID.tripleDES:
            return try fixedKeyBytes(keyBits, tripleDESKeyBits, encryptionID)
        case EncryptionID.des:
            return try fixedKeyBytes(keyBits, desKeyBits, encryptionID)
        default:
            throw .unsupportedTransform("encryption transform \(encryptionID)")
        }
    }

    /// `true` when the encryption transform is a combined-mode (AEAD) cipher that needs no integrity
    /// transform (RFC 7296 section 3.3: integrity must then be NONE or absent).
    public static func isAEAD(encryptionID: UInt16) throws(IsthmusCryptoError) -> Bool {
        switch encryptionID {
        case EncryptionID.aesGCM8, EncryptionID.aesGCM12, EncryptionID.aesGCM16, EncryptionID.chaCha20Poly1305:
            return true
        case EncryptionID.aesCBC, EncryptionID.tripleDES, EncryptionID.des:
            return false
        default:
            throw .unsupportedTransform("encryption transform \(encryptionID)")
        }
    }

    /// Bytes of key and of ICV for an integrity transform (RFC 2403/2404 section 2, RFC 4868 section 2.1:
    /// the key length equals the hash output length).
    public static func integritySizes(integrityID: UInt16) throws(IsthmusCryptoError)
        -> (keyLength: Int, icvLength: Int)
    {
        switch integrityID {
        case IntegrityID.hmacMD5_96: return (Insecure.MD5.Digest.byteCount, ICVLength.hmac96)
        case IntegrityID.hmacSHA1_96: return (Insecure.SHA1.Digest.byteCount, ICVLength.hmac96)
        case IntegrityID.hmacSHA2_256_128: return (SHA256.Digest.byteCount, ICVLength.hmacSHA256)
        case IntegrityID.hmacSHA2_384_192: return (SHA384.Digest.byteCount, ICVLength.hmacSHA384)
        case IntegrityID.hmacSHA2_512_256: return (SHA512.Digest.byteCount, ICVLength.hmacSHA512)
        default: throw .unsupportedTransform("integrity transform \(integrityID)")
        }
    }

    /// Bytes of key material the integrity transform takes from the KDF.
    public static func integrityKeyLength(integrityID: UInt16) throws(IsthmusCryptoError) -> Int {
        try integritySizes(integrityID: integrityID).keyLength
    }

    /// Bytes of output of the PRF (also the length of SK_d, SK_pi and SK_pr, RFC 7296 section 2.14).
    public static func prfOutputLength(prfID: UInt16) throws(IsthmusCryptoError) -> Int {
        try make(prfID: prfID).outputLength
    }

    // MARK: Factories

    /// Creates the per-SA encryption state for one direction.
    ///
    /// - Parameters:
    ///   - encryptionID: the IKEv2 transform ID.
    ///   - keyBits: the Key Length attribute in bits (`nil` when the proposal carried none).
    ///   - key: exactly ``encryptionKeyLength(encryptionID:keyBits:)`` bytes: for GCM and
    ///     ChaCha20-Poly1305 the cipher key followed by the 4-byte salt.
    /// - Returns: ``EncryptionTransform/aead(_:)`` for combined modes, ``EncryptionTransform/cipher(_:)``
    ///   for CBC ciphers.
    public static func make(encryptionID: UInt16, keyBits: Int?, key: SecretBytes) throws(IsthmusCryptoError)
        -> EncryptionTransform
    {
        switch try makeEncryption(encryptionID: encryptionID, keyBits: keyBits, key: key) {
        case .aead(let protection): return .aead(protection)
        case .cbc(let cipher): return .cipher(cipher)
        }
    }

    /// The encryption state with the concrete CBC type, so that ``makeProtection`` can build a
    /// ``LibcryptoEncryptThenMACProtection`` without existentials.
    private enum Encryption {
        case aead(any PacketProtection)
        case cbc(LibcryptoCBCCipher)
    }

    private static func makeEncryption(encryptionID: UInt16, keyBits: Int?, key: SecretBytes)
        throws(IsthmusCryptoError) -> Encryption
    {
        let expected = try encryptionKeyLength(encryptionID: encryptionID, keyBits: keyBits)
        guard key.count == expected else {
            throw .invalidKeySize(expected: expected, got: key.count)
        }
        switch encryptionID {
        case EncryptionID.aesCBC:
            // One keyed EVP context per direction instead of swift-crypto's `AES._CBC` one-shot, which
            // allocates per call; ``AESCBCCipher`` stays, cross-checked in tests.
            return .cbc(try LibcryptoCBCCipher.aes(transformID: encryptionID, key: key))
        case EncryptionID.aesGCM16:
            // One keyed EVP context per SA instead of swift-crypto's context per call: 3-4x faster at
            // 1400 bytes (scripts/bench). swift-crypto's AES-GCM is a test oracle (Tests/IsthmusCryptoTests/Oracles).
            return .aead(
                try LibcryptoAEADProtection(transformID: encryptionID, keyMaterial: key, icvLength: ICVLength.gcm16))
        case EncryptionID.aesGCM12:
            return .aead(
                try LibcryptoAEADProtection(transformID: encryptionID, keyMaterial: key, icvLength: ICVLength.gcm12))
        case EncryptionID.aesGCM8:
            return .aead(
                try LibcryptoAEADProtection(transformID: encryptionID, keyMaterial: key, icvLength: ICVLength.gcm8))
        case EncryptionID.chaCha20Poly1305:
            // Also libcrypto EVP with a per-SA context; swift-crypto's one-shot ChaChaPoly (about 0.25x
            // openssl) is a test oracle.
            return .aead(try LibcryptoAEADProtection(chaCha20Poly1305: encryptionID, keyMaterial: key))
        case EncryptionID.tripleDES:
            guard let cipher = EVP_des_ede3_cbc() else { throw .backendFailure("EVP_des_ede3_cbc unavailable") }
            return .cbc(
                try LibcryptoCBCCipher(
                    transformID: encryptionID, cipher: cipher, blockSize: LibcryptoCBCCipher.desBlockSize, key: key))
        case EncryptionID.des:
            guard let legacy = LibcryptoProviders.legacy else {
                throw .backendFailure("DES-CBC needs OpenSSL's legacy provider, which could not be loaded")
            }
            return .cbc(
                try LibcryptoCBCCipher(
                    transformID: encryptionID, cipher: legacy.desCBC, blockSize: LibcryptoCBCCipher.desBlockSize,
                    key: key))
        default:
            throw .unsupportedTransform("encryption transform \(encryptionID)")
        }
    }

    /// Creates the per-SA integrity state for one direction; `key` must be
    /// ``integrityKeyLength(integrityID:)`` bytes.
    public static func make(integrityID: UInt16, key: SecretBytes) throws(IsthmusCryptoError)
        -> any IntegrityTransform
    {
        try makeHMAC(integrityID: integrityID, key: key)
    }

    /// The integrity state as its concrete type: HMAC on libcrypto with the key absorbed once, no
    /// allocation per packet. swift-crypto's ``HMACIntegrity`` stays, cross-checked in tests.
    private static func makeHMAC(integrityID: UInt16, key: SecretBytes) throws(IsthmusCryptoError)
        -> LibcryptoHMACIntegrity
    {
        let (keyLength, icvLength) = try integritySizes(integrityID: integrityID)
        guard key.count == keyLength else {
            throw .invalidKeySize(expected: keyLength, got: key.count)
        }
        let hash: LibcryptoHash
        switch integrityID {
        case IntegrityID.hmacMD5_96: hash = .md5
        case IntegrityID.hmacSHA1_96: hash = .sha1
        case IntegrityID.hmacSHA2_256_128: hash = .sha256
        case IntegrityID.hmacSHA2_384_192: hash = .sha384
        case IntegrityID.hmacSHA2_512_256: hash = .sha512
        default: throw .unsupportedTransform("integrity transform \(integrityID)")
        }
        return try LibcryptoHMACIntegrity(transformID: integrityID, hash: hash, key: key, icvLength: icvLength)
    }

    /// Creates a PRF (stateless; keys are given per call).
    public static func make(prfID: UInt16) throws(IsthmusCryptoError) -> any PseudoRandomFunction {
        switch prfID {
        case PRFID.hmacMD5: return HMACPRF<Insecure.MD5>(transformID: prfID)
        case PRFID.hmacSHA1: return HMACPRF<Insecure.SHA1>(transformID: prfID)
        case PRFID.hmacSHA2_256: return HMACPRF<SHA256>(transformID: prfID)
        case PRFID.hmacSHA2_384: return HMACPRF<SHA384>(transformID: prfID)
        case PRFID.hmacSHA2_512: return HMACPRF<SHA512>(transformID: prfID)
        default: throw .unsupportedTransform("PRF transform \(prfID)")
        }
    }

    /// Creates the complete packet protection for one SA direction: the AEAD itself, or the CBC cipher
    /// combined with the integrity transform (encrypt-then-MAC).
    ///
    /// - Parameters:
    ///   - integrityID: `nil` (or NONE, 0) for AEADs; required for CBC ciphers.
    ///   - integrityKey: the integrity key for CBC ciphers; ignored for AEADs.
    public static func makeProtection(
        encryptionID: UInt16,
        keyBits: Int?,
        encryptionKey: SecretBytes,
        integrityID: UInt16?,
        integrityKey: SecretBytes?
    ) throws(IsthmusCryptoError) -> any PacketProtection {
        let encryption = try makeEncryption(encryptionID: encryptionID, keyBits: keyBits, key: encryptionKey)
        switch encryption {
        case .aead(let protection):
            guard integrityID == nil || integrityID == noIntegrity else {
                throw .unsupportedTransform(
                    "AEAD transform \(encryptionID) combined with integrity transform \(integrityID ?? 0)")
            }
            return protection
        case .cbc(let cipher):
            guard let integrityID, integrityID != noIntegrity, let integrityKey else {
                throw .unsupportedTransform("CBC transform \(encryptionID) needs an integrity transform")
            }
            return LibcryptoEncryptThenMACProtection(
                cipher: cipher, integrity: try makeHMAC(integrityID: integrityID, key: integrityKey))
        }
    }

    /// Integrity transform NONE (RFC 7296 section 3.3.2).
    private static let noIntegrity = IntegrityID.none

    /// ICV lengths in bytes.
    private enum ICVLength {
        /// HMAC-MD5-96 and HMAC-SHA1-96 (RFC 2403 / RFC 2404 section 2).
        static let hmac96 = 12
        /// HMAC-SHA-256-128 (RFC 4868 section 2.3): half the output.
        static let hmacSHA256 = 16
        /// HMAC-SHA-384-192 (RFC 4868 section 2.3).
        static let hmacSHA384 = 24
        /// HMAC-SHA-512-256 (RFC 4868 section 2.3).
        static let hmacSHA512 = 32
        /// ENCR_AES_GCM_16 (RFC 4106 section 6).
        static let gcm16 = 16
        /// ENCR_AES_GCM_12 (RFC 4106 section 6).
        static let gcm12 = 12
        /// ENCR_AES_GCM_8 (RFC 4106 section 6).
        static let gcm8 = 8
    }

    private static func aesKeyBytes(_ keyBits: Int?, _ id: UInt16) throws(IsthmusCryptoError) -> Int {
        guard let keyBits else {
            throw .invalidKeyLength("transform \(id) requires a Key Length attribute")
        }
        guard aesKeyBits.contains(keyBits) else {
            throw .invalidKeyLength("transform \(id) does not allow \(keyBits)-bit keys")
        }
        return keyBits / bitsPerByte
    }

    private static func fixedKeyBytes(_ keyBits: Int?, _ fixed: Int, _ id: UInt16) throws(IsthmusCryptoError) -> Int {
        if let keyBits, keyBits != fixed {
            throw .invalidKeyLength("transform \(id) has a fixed \(fixed)-bit key, got \(keyBits)")
        }
        return fixed / bitsPerByte
    }
}
