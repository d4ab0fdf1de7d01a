import IsthmusCrypto

/// One ESP suite as IKEv2 negotiates it (transform IDs and key length), with its `openssl speed` peer.
struct BenchSuite: Sendable {
    private typealias Encryption = CryptoSuites.EncryptionID
    private typealias Integrity = CryptoSuites.IntegrityID

    /// The strongSwan-style proposal name.
    let name: String
    let encryptionID: UInt16
    let keyBits: Int?
    /// `nil` for AEADs.
    let integrityID: UInt16?
    /// The `openssl speed -evp` cipher to compare against, if any.
    let openSSLCipher: String?

    /// `true` for combined-mode ciphers.
    var isAEAD: Bool { integrityID == nil }

    /// Every suite measured, fastest candidates first.
    static let all: [BenchSuite] = [
        BenchSuite(name: "aes128gcm16", encryptionID: Encryption.aesGCM16, keyBits: 128, aes: "aes-128-gcm"),
        BenchSuite(name: "aes256gcm16", encryptionID: Encryption.aesGCM16, keyBits: 256, aes: "aes-256-gcm"),
        BenchSuite(name: "aes256gcm12", encryptionID: Encryption.aesGCM12, keyBits: 256, aes: "aes-256-gcm"),
        BenchSuite(name: "aes256gcm8", encryptionID: Encryption.aesGCM8, keyBits: 256, aes: "aes-256-gcm"),
        BenchSuite(
            name: "chacha20poly1305", encryptionID: Encryption.chaCha20Poly1305, keyBits: nil,
            aes: "chacha20-poly1305"
        ),
        BenchSuite(name: "aes128-sha1", cbc: Encryption.aesCBC, keyBits: 128, integrityID: Integrity.hmacSHA1_96),
        BenchSuite(name: "aes256-sha1", cbc: Encryption.aesCBC, keyBits: 256, integrityID: Integrity.hmacSHA1_96),
        BenchSuite(
            name: "aes128-sha256", cbc: Encryption.aesCBC, keyBits: 128, integrityID: Integrity.hmacSHA2_256_128),
        BenchSuite(
            name: "aes256-sha256", cbc: Encryption.aesCBC, keyBits: 256, integrityID: Integrity.hmacSHA2_256_128),
        BenchSuite(
            name: "aes256-sha512", cbc: Encryption.aesCBC, keyBits: 256, integrityID: Integrity.hmacSHA2_512_256),
        BenchSuite(name: "3des-sha1", cbc: Encryption.tripleDES, keyBits: nil, integrityID: Integrity.hmacSHA1_96),
    ]

    private init(name: String, encryptionID: UInt16, keyBits: Int?, aes openSSLCipher: String) {
        self.name = name
        self.encryptionID = encryptionID
        self.keyBits = keyBits
        self.integrityID = nil
        self.openSSLCipher = openSSLCipher
    }

    private init(name: String, cbc encryptionID: UInt16, keyBits: Int?, integrityID: UInt16) {
        self.name = name
        self.encryptionID = encryptionID
        self.keyBits = keyBits
        self.integrityID = integrityID
        self.openSSLCipher = nil
    }

    /// Builds one SA direction's protection from fixed keys through ``CryptoSuites/makeProtection``,
    /// exactly as the ESP engine does.
    func makeProtection() throws(IsthmusCryptoError) -> any PacketProtection {
        let encryptionLength = try CryptoSuites.encryptionKeyLength(encryptionID: encryptionID, keyBits: keyBits)
        var integrityKey: SecretBytes?
        if let integrityID {
            integrityKey = Self.fixedKey(try CryptoSuites.integrityKeyLength(integrityID: integrityID), seed: 0x5a)
        }
        return try CryptoSuites.makeProtection(
            encryptionID: encryptionID, keyBits: keyBits, encryptionKey: Self.fixedKey(encryptionLength, seed: 0x11),
            integrityID: integrityID, integrityKey: integrityKey
        )
    }

    /// A fixed, non-trivial key (no key-dependent shortcut exists, but avoid all-zero keys anyway).
    private static func fixedKey(_ length: Int, seed: UInt8) -> SecretBytes {
        SecretBytes((0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37) ^ seed })
    }
}
