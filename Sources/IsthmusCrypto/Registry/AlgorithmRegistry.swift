/// The one table of algorithms Isthmus implements, and lookups over it.
///
/// Wire code looks algorithms up by IKEv2 transform ID or IKEv1 attribute value, the configuration
/// by strongSwan keyword, exports by display name. Nothing else in the project hard-codes these numbers.
public enum AlgorithmRegistry {
    /// Every supported algorithm, in the order `check` lists them.
    public static let all: [Algorithm] = encryption + integrity + prf + keyExchange + extendedSequenceNumbers

    /// Finds an algorithm by strongSwan keyword or alias (case-insensitive).
    public static func algorithm(keyword: String) -> Algorithm? {
        byKeyword[keyword.lowercased()]
    }

    /// Finds an algorithm by IKEv2 transform type, ID and (for variable-length ciphers) key length.
    public static func algorithm(type: TransformType, ikev2ID: UInt16, keyLengthBits: Int? = nil) -> Algorithm? {
        all.first { $0.type == type && $0.ikev2ID == ikev2ID && $0.keyLengthBits == keyLengthBits }
    }

    /// Finds an algorithm by its IKEv1 phase 1 attribute value (RFC 2409 appendix A).
    ///
    /// - Parameters:
    ///   - type: `.encryption` (attribute class 1), `.integrity` (class 2, the hash) or `.keyExchange` (class 4).
    ///   - keyLengthBits: the Key Length attribute (class 14) for AES; nil for fixed-length ciphers.
    public static func algorithm(type: TransformType, ikev1Phase1Value: UInt16, keyLengthBits: Int? = nil)
        -> Algorithm?
    {
        all.first { $0.type == type && $0.ikev1Phase1Value == ikev1Phase1Value && $0.keyLengthBits == keyLengthBits }
    }

    /// Finds an algorithm by its IPsec DOI phase 2 value (RFC 2407 sections 4.4.4 and 4.5).
    public static func algorithm(type: TransformType, ikev1Phase2Value: UInt16, keyLengthBits: Int? = nil)
        -> Algorithm?
    {
        all.first { $0.type == type && $0.ikev1Phase2Value == ikev1Phase2Value && $0.keyLengthBits == keyLengthBits }
    }

    /// Every keyword and alias that selects a supported algorithm.
    public static var allKeywords: [String] { all.flatMap(\.keywords) }

    /// strongSwan keywords for algorithms Isthmus knows of but does not implement, with the reason,
    /// so a pasted proposal gets "not supported" instead of "unknown".
    public static let knownUnsupported: [String: String] = {
        var table: [String: String] = [:]
        let notImplemented = "is a valid strongSwan algorithm that Isthmus does not implement"
        for keyword in [
            "null", "cast128", "blowfish", "blowfish128", "blowfish192", "blowfish256", "twofish", "serpent",
            "aes128ctr", "aes192ctr", "aes256ctr", "camellia", "camellia128", "camellia192", "camellia256",
            "aes128ccm8", "aes128ccm12", "aes128ccm16", "aes192ccm8", "aes192ccm12", "aes192ccm16",
            "aes256ccm8", "aes256ccm12", "aes256ccm16", "aes128gmac", "aes192gmac", "aes256gmac",
            "aesxcbc", "aescmac", "md5_128", "sha1_160", "sha256_96", "sha2_256_96",
            "prfaesxcbc", "prfaescmac", "modp6144", "modp8192", "modp1024s160", "modp2048s224", "modp2048s256",
            "ecp192", "ecp224", "ecp224bp", "ecp256bp", "ecp384bp", "ecp512bp", "curve448", "x448",
            "mlkem512", "mlkem768", "mlkem1024",
        ] {
            table[keyword] = notImplemented
        }
        return table
    }()

    private static let byKeyword: [String: Algorithm] = {
        var table: [String: Algorithm] = [:]
        for algorithm in all {
            for keyword in algorithm.keywords {
                precondition(table[keyword] == nil, "duplicate keyword \(keyword) in the algorithm registry")
                table[keyword] = algorithm
            }
        }
        return table
    }()
}

// MARK: - The table

extension AlgorithmRegistry {
    // ENCR IDs (RFC 7296 section 3.3.2): ENCR_DES 2, ENCR_3DES 3, ENCR_AES_CBC 12, ENCR_AES_GCM_8/12/16 18/19/20
    // (RFC 4106), ENCR_CHACHA20_POLY1305 28 (RFC 7634). The IPsec DOI ESP transform IDs use the same
    // numbers (RFC 2407 section 4.4.4: ESP_DES 2, ESP_3DES 3; ESP_AES 12 from RFC 3602; ESP_AES-GCM 18-20).
    // IKEv1 phase 1 Encryption Algorithm values (RFC 2409 appendix A): DES-CBC 1, 3DES-CBC 5, AES-CBC 7.
    static let encryption: [Algorithm] = {
        var list: [Algorithm] = [
            cipher(
                "des", [], "DES-CBC", id: 2, bits: nil, phase1: 1, phase2: 2,
                guidance: .legacy(reason: "56-bit DES is broken (RFC 8221: MUST NOT)")
            ),
            cipher(
                "3des", [], "3DES-CBC", id: 3, bits: nil, phase1: 5, phase2: 3,
                guidance: .legacy(reason: "3DES has a 64-bit block and is slow (RFC 8221: SHOULD NOT)")
            ),
        ]
        for bits in [128, 192, 256] {
            list.append(
                cipher(
                    "aes\(bits)", bits == 128 ? ["aes"] : [], "AES-\(bits)-CBC", id: 12, bits: bits,
                    phase1: 7, phase2: 12, guidance: .current
                )
            )
        }
        for bits in [128, 192, 256] {
            for (icv, id) in [(8, UInt16(18)), (12, 19), (16, 20)] {
                list.append(
                    Algorithm(
                        type: .encryption, keyword: "aes\(bits)gcm\(icv)", aliases: ["aes\(bits)gcm\(icv * 8)"],
                        displayName: "AES-\(bits)-GCM-\(icv * 8)", ikev2ID: id, keyLengthBits: bits,
                        ikev1Phase1Value: nil, ikev1Phase2Value: id, isAEAD: true, icvBytes: icv,
                        guidance: icv == 16
                            ? .current
                            : .legacy(reason: "a \(icv * 8)-bit ICV is weaker than the 128-bit one RFC 8221 prefers")
                    )
                )
            }
        }
        list.append(
            Algorithm(
                type: .encryption, keyword: "chacha20poly1305", aliases: [], displayName: "ChaCha20-Poly1305",
                ikev2ID: 28, keyLengthBits: nil, ikev1Phase1Value: nil, ikev1Phase2Value: nil, isAEAD: true,
                icvBytes: 16, guidance: .current
            )
        )
        return list
    }()

    // INTEG IDs (RFC 7296 section 3.3.2, RFC 4868): AUTH_HMAC_MD5_96 1, AUTH_HMAC_SHA1_96 2,
    // AUTH_HMAC_SHA2_256_128 12, _384_192 13, _512_256 14. IKEv1 phase 1 Hash Algorithm (RFC 2409
    // appendix A, RFC 4868 section 4): MD5 1, SHA 2, SHA2-256 4, SHA2-384 5, SHA2-512 6. IPsec DOI
    // Authentication Algorithm (RFC 2407 section 4.5, RFC 4868): HMAC-MD5 1, HMAC-SHA 2, HMAC-SHA2-256 5,
    // HMAC-SHA2-384 6, HMAC-SHA2-512 7.
    static let integrity: [Algorithm] = [
        hmac(
            "md5", [], "HMAC-MD5-96", id: 1, icv: 12, phase1: 1, phase2: 1,
            guidance: .legacy(reason: "MD5 is broken (RFC 8221: AUTH_HMAC_MD5_96 MUST NOT)")
        ),
        hmac("sha1", ["sha"], "HMAC-SHA1-96", id: 2, icv: 12, phase1: 2, phase2: 2, guidance: .current),
        hmac("sha256", ["sha2_256"], "HMAC-SHA2-256-128", id: 12, icv: 16, phase1: 4, phase2: 5, guidance: .current),
        hmac("sha384", ["sha2_384"], "HMAC-SHA2-384-192", id: 13, icv: 24, phase1: 5, phase2: 6, guidance: .current),
        hmac("sha512", ["sha2_512"], "HMAC-SHA2-512-256", id: 14, icv: 32, phase1: 6, phase2: 7, guidance: .current),
    ]

    // PRF IDs (RFC 7296 section 3.3.2, RFC 4868): PRF_HMAC_MD5 1, PRF_HMAC_SHA1 2, PRF_HMAC_SHA2_256/384/512 5/6/7.
    // IKEv1 has no negotiated PRF: it uses the HMAC of the phase 1 hash (RFC 2409 section 5), so
    // the phase 1 columns here hold the Hash Algorithm value the PRF is derived from.
    static let prf: [Algorithm] = [
        prfEntry("prfmd5", "PRF-HMAC-MD5", id: 1, hash: 1, guidance: .legacy(reason: "MD5 (RFC 8247: MUST NOT)")),
        prfEntry("prfsha1", "PRF-HMAC-SHA1", id: 2, hash: 2, guidance: .current),
        prfEntry("prfsha256", "PRF-HMAC-SHA2-256", id: 5, hash: 4, guidance: .current),
        prfEntry("prfsha384", "PRF-HMAC-SHA2-384", id: 6, hash: 5, guidance: .current),
        prfEntry("prfsha512", "PRF-HMAC-SHA2-512", id: 7, hash: 6, guidance: .current),
    ]

    // DH group numbers are shared by IKEv2 (RFC 7296 section 3.3.2) and the IKEv1 Group Description
    // attribute (RFC 2409 appendix A, RFC 3526, RFC 5903). Curve25519 (31, RFC 8031) exists for IKEv2 only.
    static let keyExchange: [Algorithm] = [
        group("modp768", "DH group 1 (MODP-768)", 1, .legacy(reason: "768-bit MODP is broken (RFC 8247: MUST NOT)")),
        group("modp1024", "DH group 2 (MODP-1024)", 2, .legacy(reason: "1024-bit MODP is weak (RFC 8247: SHOULD NOT)")),
        group("modp1536", "DH group 5 (MODP-1536)", 5, .legacy(reason: "1536-bit MODP is weak (RFC 8247: SHOULD NOT)")),
        group("modp2048", "DH group 14 (MODP-2048)", 14, .current),
        group("modp3072", "DH group 15 (MODP-3072)", 15, .current),
        group("modp4096", "DH group 16 (MODP-4096)", 16, .current),
        group("ecp256", "DH group 19 (ECP-256)", 19, .current),
        group("ecp384", "DH group 20 (ECP-384)", 20, .current),
        group("ecp521", "DH group 21 (ECP-521)", 21, .current),
        Algorithm(
            type: .keyExchange, keyword: "curve25519", aliases: ["x25519"], displayName: "DH group 31 (Curve25519)",
            ikev2ID: 31, keyLengthBits: nil, ikev1Phase1Value: nil, ikev1Phase2Value: nil, isAEAD: false,
            icvBytes: 0, guidance: .current
        ),
    ]

    // ESN transform IDs (RFC 7296 section 3.3.2): 0 = no ESN, 1 = ESN (RFC 4304). IKEv1 negotiates ESN
    // with the Extended (64-bit) Sequence Number attribute (class 11, value 1) of RFC 4304 section 2.
    static let extendedSequenceNumbers: [Algorithm] = [
        Algorithm(
            type: .extendedSequenceNumbers, keyword: "noesn", aliases: [], displayName: "32-bit sequence numbers",
            ikev2ID: 0, keyLengthBits: nil, ikev1Phase1Value: nil, ikev1Phase2Value: 0, isAEAD: false, icvBytes: 0,
            guidance: .current
        ),
        Algorithm(
            type: .extendedSequenceNumbers, keyword: "esn", aliases: [],
            displayName: "64-bit extended sequence numbers",
            ikev2ID: 1, keyLengthBits: nil, ikev1Phase1Value: nil, ikev1Phase2Value: 1, isAEAD: false, icvBytes: 0,
            guidance: .current
        ),
    ]

    // MARK: Row builders

    private static func cipher(
        _ keyword: String, _ aliases: [String], _ name: String, id: UInt16, bits: Int?, phase1: UInt16,
        phase2: UInt16, guidance: AlgorithmGuidance
    ) -> Algorithm {
        Algorithm(
            type: .encryption, keyword: keyword, aliases: aliases, displayName: name, ikev2ID: id,
            keyLengthBits: bits, ikev1Phase1Value: phase1, ikev1Phase2Value: phase2, isAEAD: false, icvBytes: 0,
            guidance: guidance
        )
    }

    private static func hmac(
        _ keyword: String, _ aliases: [String], _ name: String, id: UInt16, icv: Int, phase1: UInt16, phase2: UInt16,
        guidance: AlgorithmGuidance
    ) -> Algorithm {
        Algorithm(
            type: .integrity, keyword: keyword, aliases: aliases, displayName: name, ikev2ID: id, keyLengthBits: nil,
            ikev1Phase1Value: phase1, ikev1Phase2Value: phase2, isAEAD: false, icvBytes: icv, guidance: guidance
        )
    }

    private static func prfEntry(
        _ keyword: String, _ name: String, id: UInt16, hash: UInt16, guidance: AlgorithmGuidance
    ) -> Algorithm {
        Algorithm(
            type: .prf, keyword: keyword, aliases: [], displayName: name, ikev2ID: id, keyLengthBits: nil,
            ikev1Phase1Value: hash, ikev1Phase2Value: nil, isAEAD: false, icvBytes: 0, guidance: guidance
        )
    }

    private static func group(_ keyword: String, _ name: String, _ number: UInt16, _ guidance: AlgorithmGuidance)
        -> Algorithm
    {
        Algorithm(
            type: .keyExchange, keyword: keyword, aliases: [], displayName: name, ikev2ID: number, keyLengthBits: nil,
            ikev1Phase1Value: number, ikev1Phase2Value: number, isAEAD: false, icvBytes: 0, guidance: guidance
        )
    }
}
