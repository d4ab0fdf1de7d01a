/// IKEv2 key derivation (RFC 7296 sections 2.13, 2.14, 2.17, 2.18).
///
/// All functions take the negotiated ``PseudoRandomFunction``. Nonces, SPIs and public values are
/// plain bytes; shared secrets and derived keys are ``SecretBytes``.
///
/// - Note: RFC 7296 section 2.14 truncates Ni and Nr for PRFs with a fixed key size (AES-XCBC-PRF-128,
///   AES-CMAC-PRF-128). Those PRFs are not implemented, so the full nonces are always used.
public enum IKEv2KeyDerivation {
    /// prf+ counts its blocks in one octet starting at 0x01 (RFC 7296 section 2.13).
    public static let maximumPRFPlusBlocks = 255

    /// `prf+ (K, S) = T1 | T2 | ...` with `T1 = prf(K, S | 0x01)`, `Tn = prf(K, Tn-1 | S | n)`
    /// (RFC 7296 section 2.13), truncated to `length` bytes.
    ///
    /// - Throws: ``IsthmusCryptoError/Code/outputTooLong`` beyond 255 blocks.
    public static func prfPlus(
        prf: any PseudoRandomFunction,
        key: SecretBytes,
        seed: [PRFInput],
        length: Int
    ) throws(IsthmusCryptoError) -> SecretBytes {
        guard length >= 0 else { throw .invalidParameter("negative prf+ length \(length)") }
        let blockLength = prf.outputLength
        let blocks = (length + blockLength - 1) / blockLength
        guard blocks <= maximumPRFPlusBlocks else {
            throw .outputTooLong("prf+ yields at most \(maximumPRFPlusBlocks * blockLength) bytes, \(length) requested")
        }
        var output = SecretBytes(zeros: 0)
        var previous: SecretBytes?
        for counter in 0..<blocks {
            var inputs: [PRFInput] = []
            inputs.reserveCapacity(seed.count + 2)
            if let previous { inputs.append(.secret(previous)) }
            inputs.append(contentsOf: seed)
            inputs.append(.byte(UInt8(counter + 1)))
            let block = prf.compute(key: key, inputs)
            output = output.appending(block)
            previous = block
        }
        return output.prefix(length)
    }

    /// `SKEYSEED = prf(Ni | Nr, g^ir)` (RFC 7296 section 2.14).
    public static func skeyseed(
        prf: any PseudoRandomFunction,
        nonceInitiator: [UInt8],
        nonceResponder: [UInt8],
        sharedSecret: SecretBytes
    ) -> SecretBytes {
        prf.compute(key: SecretBytes(nonceInitiator + nonceResponder), [.secret(sharedSecret)])
    }

    /// `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)` for a rekeyed IKE SA (RFC 7296 section 2.18),
    /// using the PRF of the *old* IKE SA.
    public static func rekeyedSKEYSEED(
        prf: any PseudoRandomFunction,
        previousSKd: SecretBytes,
        sharedSecret: SecretBytes,
        nonceInitiator: [UInt8],
        nonceResponder: [UInt8]
    ) -> SecretBytes {
        prf.compute(key: previousSKd, [.secret(sharedSecret), .bytes(nonceInitiator), .bytes(nonceResponder)])
    }

    /// `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)`
    /// (RFC 7296 section 2.14).
    public static func ikeSAKeys(
        prf: any PseudoRandomFunction,
        skeyseed: SecretBytes,
        nonceInitiator: [UInt8],
        nonceResponder: [UInt8],
        spiInitiator: [UInt8],
        spiResponder: [UInt8],
        lengths: IKEv2KeyLengths
    ) throws(IsthmusCryptoError) -> IKEv2SAKeys {
        let material = try prfPlus(
            prf: prf,
            key: skeyseed,
            seed: [.bytes(nonceInitiator), .bytes(nonceResponder), .bytes(spiInitiator), .bytes(spiResponder)],
            length: lengths.totalLength
        )
        var reader = KeyMaterialReader(material)
        return IKEv2SAKeys(
            skD: reader.take(lengths.prfKeyLength),
            skAi: reader.take(lengths.integrityKeyLength),
            skAr: reader.take(lengths.integrityKeyLength),
            skEi: reader.take(lengths.encryptionKeyLength),
            skEr: reader.take(lengths.encryptionKeyLength),
            skPi: reader.take(lengths.prfKeyLength),
            skPr: reader.take(lengths.prfKeyLength)
        )
    }

    /// `KEYMAT = prf+ (SK_d, [g^ir (new) |] Ni | Nr)` (RFC 7296 sections 2.17 and 1.3.1), raw.
    public static func childSAKeyMaterial(
        prf: any PseudoRandomFunction,
        skD: SecretBytes,
        sharedSecret: SecretBytes?,
        nonceInitiator: [UInt8],
        nonceResponder: [UInt8],
        length: Int
    ) throws(IsthmusCryptoError) -> SecretBytes {
        var seed: [PRFInput] = []
        if let sharedSecret { seed.append(.secret(sharedSecret)) }
        seed.append(.bytes(nonceInitiator))
        seed.append(.bytes(nonceResponder))
        return try prfPlus(prf: prf, key: skD, seed: seed, length: length)
    }

    /// CHILD_SA keys split from KEYMAT (RFC 7296 section 2.17): initiator-to-responder keys first,
    /// and within each direction the encryption key before the integrity key.
    ///
    /// - Parameters:
    ///   - sharedSecret: the new `g^ir` when the CREATE_CHILD_SA exchange carried KE payloads (PFS).
    ///   - encryptionKeyLength: bytes per direction including salt
    ///     (``CryptoSuites/encryptionKeyLength(encryptionID:keyBits:)``).
    ///   - integrityKeyLength: bytes per direction, 0 with an AEAD.
    public static func childSAKeys(
        prf: any PseudoRandomFunction,
        skD: SecretBytes,
        sharedSecret: SecretBytes?,
        nonceInitiator: [UInt8],
        nonceResponder: [UInt8],
        encryptionKeyLength: Int,
        integrityKeyLength: Int
    ) throws(IsthmusCryptoError) -> ChildSAKeys {
        guard encryptionKeyLength >= 0, integrityKeyLength >= 0 else {
            throw .invalidParameter("negative key length")
        }
        let material = try childSAKeyMaterial(
            prf: prf,
            skD: skD,
            sharedSecret: sharedSecret,
            nonceInitiator: nonceInitiator,
            nonceResponder: nonceResponder,
            length: 2 * (encryptionKeyLength + integrityKeyLength)
        )
        var reader = KeyMaterialReader(material)
        let outbound = DirectionKeys(
            encryption: reader.take(encryptionKeyLength), integrity: reader.take(integrityKeyLength)
        )
        let inbound = DirectionKeys(
            encryption: reader.take(encryptionKeyLength), integrity: reader.take(integrityKeyLength)
        )
        return ChildSAKeys(initiatorToResponder: outbound, responderToInitiator: inbound)
    }
}
