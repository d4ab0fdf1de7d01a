/// IKEv1 key derivation (RFC 2409 section 5, 5.5 and Appendix B).
///
/// `prf` is the negotiated PRF or, when none was negotiated (the usual case), the HMAC version of the
/// negotiated hash algorithm (RFC 2409 section 5); its plain hash is the "hash" of the IV formulas.
public enum IKEv1KeyDerivation {
    /// `SKEYID = prf(pre-shared-key, Ni_b | Nr_b)` for pre-shared key authentication, the only IKEv1
    /// authentication isthmus implements (signature SKEYID is IKEv2's SKEYSEED formula, RFC 7296 section 2.14).
    public static func skeyidPreSharedKey(
        prf: any PseudoRandomFunction,
        preSharedKey: SecretBytes,
        nonceInitiator: [UInt8],
        nonceResponder: [UInt8]
    ) -> SecretBytes {
        prf.compute(key: preSharedKey, [.bytes(nonceInitiator), .bytes(nonceResponder)])
    }

    /// Octet appended when deriving SKEYID_d (RFC 2409 section 5).
    private static let skeyidDSuffix: UInt8 = 0
    /// Octet appended when deriving SKEYID_a.
    private static let skeyidASuffix: UInt8 = 1
    /// Octet appended when deriving SKEYID_e.
    private static let skeyidESuffix: UInt8 = 2

    /// SKEYID_d, SKEYID_a and SKEYID_e from SKEYID (RFC 2409 section 5):
    ///
    /// ```
    /// SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
    /// SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
    /// SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
    /// ```
    public static func phase1Keys(
        prf: any PseudoRandomFunction,
        skeyid: SecretBytes,
        sharedSecret: SecretBytes,
        cookieInitiator: [UInt8],
        cookieResponder: [UInt8]
    ) -> IKEv1Phase1Keys {
        let common: [PRFInput] = [.secret(sharedSecret), .bytes(cookieInitiator), .bytes(cookieResponder)]
        let skeyidD = prf.compute(key: skeyid, common + [.byte(skeyidDSuffix)])
        let skeyidA = prf.compute(key: skeyid, [.secret(skeyidD)] + common + [.byte(skeyidASuffix)])
        let skeyidE = prf.compute(key: skeyid, [.secret(skeyidA)] + common + [.byte(skeyidESuffix)])
        return IKEv1Phase1Keys(skeyid: skeyid, skeyidD: skeyidD, skeyidA: skeyidA, skeyidE: skeyidE)
    }

    /// Most PRF blocks any expansion here produces (a bound on the loops, far above any cipher's need).
    public static let maximumExpansionBlocks = 255

    /// The ISAKMP SA encryption key from SKEYID_e (RFC 2409 section 5.3 and Appendix B).
    ///
    /// When SKEYID_e is long enough its first `length` bytes are the key; otherwise
    /// `Ka = K1 | K2 | ...` with `K1 = prf(SKEYID_e, 0)` (one zero octet) and `Kn = prf(SKEYID_e, Kn-1)`.
    public static func encryptionKey(
        prf: any PseudoRandomFunction,
        skeyidE: SecretBytes,
        length: Int
    ) throws(IsthmusCryptoError) -> SecretBytes {
        guard length >= 0 else { throw .invalidParameter("negative key length \(length)") }
        if length <= skeyidE.count {
            return skeyidE.prefix(length)
        }
        return try expand(prf: prf, key: skeyidE, length: length, first: [.byte(0)]) { previous in
            [.secret(previous)]
        }
    }

    /// `HASH_I` or `HASH_R` of Main Mode (RFC 2409 section 5), one formula with the sender's values first:
    ///
    /// ```
    /// HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)
    /// HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)
    /// ```
    ///
    /// - Parameters:
    ///   - ofInitiator: true for HASH_I, false for HASH_R.
    ///   - saBody: the entire body of the *initiator's* SA payload (minus the generic header), for both.
    ///   - identificationBody: the body of the sender's ID payload (minus the generic header).
    public static func phase1Hash(
        ofInitiator: Bool,
        prf: any PseudoRandomFunction,
        skeyid: SecretBytes,
        publicInitiator: [UInt8],
        publicResponder: [UInt8],
        cookieInitiator: [UInt8],
        cookieResponder: [UInt8],
        saBody: [UInt8],
        identificationBody: [UInt8]
    ) -> [UInt8] {
        let (ownPublic, otherPublic) =
            ofInitiator ? (publicInitiator, publicResponder) : (publicResponder, publicInitiator)
        let (ownCookie, otherCookie) =
            ofInitiator ? (cookieInitiator, cookieResponder) : (cookieResponder, cookieInitiator)
        return prf.compute(
            key: skeyid,
            [
                .bytes(ownPublic), .bytes(otherPublic), .bytes(ownCookie), .bytes(otherCookie), .bytes(saBody),
                .bytes(identificationBody),
            ]
        ).copyBytes()
    }

    /// The phase 1 IV: `hash(g^xi | g^xr)` truncated to the cipher block size (RFC 2409 Appendix B).
    public static func phase1IV(
        prf: any PseudoRandomFunction,
        publicInitiator: [UInt8],
        publicResponder: [UInt8],
        blockSize: Int
    ) throws(IsthmusCryptoError) -> [UInt8] {
        try truncatedHash(prf: prf, [.bytes(publicInitiator), .bytes(publicResponder)], blockSize: blockSize)
    }

    /// The IV of a phase 2 or informational exchange: `hash(last phase 1 CBC output block | M-ID)`
    /// truncated to the block size, M-ID in network byte order (RFC 2409 Appendix B).
    public static func phase2IV(
        prf: any PseudoRandomFunction,
        lastPhase1Block: [UInt8],
        messageID: UInt32,
        blockSize: Int
    ) throws(IsthmusCryptoError) -> [UInt8] {
        try truncatedHash(prf: prf, [.bytes(lastPhase1Block), .bytes(bigEndian(messageID))], blockSize: blockSize)
    }

    /// Quick Mode KEYMAT for one SA (RFC 2409 section 5.5), expanded to `length` bytes:
    ///
    /// ```
    /// K1   = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)
    /// Kn+1 = prf(SKEYID_d, Kn | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)
    /// KEYMAT = K1 | K2 | ...
    /// ```
    ///
    /// Each direction has its own SPI (the one chosen by the receiver of that direction), so call this
    /// once per SPI; encryption key first, then the authentication key (RFC 2409 section 5.5).
    ///
    /// - Parameters:
    ///   - sharedSecret: the Quick Mode `g(qm)^xy` when PFS was used.
    ///   - protocolID: the IPsec protocol ID of the SA (PROTO_IPSEC_ESP = 3, RFC 2407 section 4.4.1).
    public static func quickModeKeyMaterial(
        prf: any PseudoRandomFunction,
        skeyidD: SecretBytes,
        sharedSecret: SecretBytes?,
        protocolID: UInt8,
        spi: [UInt8],
        nonceInitiator: [UInt8],
        nonceResponder: [UInt8],
        length: Int
    ) throws(IsthmusCryptoError) -> SecretBytes {
        guard length >= 0 else { throw .invalidParameter("negative key length \(length)") }
        var seed: [PRFInput] = []
        if let sharedSecret { seed.append(.secret(sharedSecret)) }
        seed.append(contentsOf: [.byte(protocolID), .bytes(spi), .bytes(nonceInitiator), .bytes(nonceResponder)])
        return try expand(prf: prf, key: skeyidD, length: length, first: seed) { previous in
            [.secret(previous)] + seed
        }
    }

    /// `K1 = prf(key, first)`, `Kn+1 = prf(key, next(Kn))`, concatenated and truncated to `length`.
    private static func expand(
        prf: any PseudoRandomFunction,
        key: SecretBytes,
        length: Int,
        first: [PRFInput],
        next: (SecretBytes) -> [PRFInput]
    ) throws(IsthmusCryptoError) -> SecretBytes {
        let blocks = (length + prf.outputLength - 1) / prf.outputLength
        guard blocks <= maximumExpansionBlocks else {
            throw .outputTooLong("expansion limited to \(maximumExpansionBlocks) PRF blocks, \(length) bytes requested")
        }
        var output = SecretBytes(zeros: 0)
        var previous: SecretBytes?
        for _ in 0..<blocks {
            let block = prf.compute(key: key, previous.map(next) ?? first)
            output = output.appending(block)
            previous = block
        }
        return output.prefix(length)
    }

    private static func truncatedHash(
        prf: any PseudoRandomFunction,
        _ inputs: [PRFInput],
        blockSize: Int
    ) throws(IsthmusCryptoError) -> [UInt8] {
        guard blockSize > 0, blockSize <= prf.outputLength else {
            throw .invalidParameter("block size \(blockSize) must be between 1 and the hash length \(prf.outputLength)")
        }
        return Array(prf.hash(inputs).prefix(blockSize))
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [
            UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
            UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value),
        ]
    }
}
