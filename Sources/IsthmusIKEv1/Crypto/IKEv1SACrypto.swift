import IsthmusCrypto
import IsthmusIP
import IsthmusWire

/// The keys and transforms of one ISAKMP SA, and every computation that uses them: message
/// encryption (RFC 2409 Appendix B), the phase 1 HASH_I/HASH_R (section 5), the Quick Mode and
/// Informational HASH payloads (sections 5.5 and 5.7), Quick Mode KEYMAT (5.5).
///
/// Invariant: ``decrypt(_:iv:)`` returns unauthenticated plaintext; the caller authenticates it
/// (HASH payload, or HASH_I/HASH_R) before acting on it and before keeping the new IV.
/// ``decrypt(_:iv:verifying:expected:)`` does both for the HASH payloads of phase 2 and Informationals.
struct IKEv1SACrypto: Sendable {
    let suite: IKEv1Phase1Suite
    let prf: any PseudoRandomFunction
    let cipher: any CipherTransform
    let keys: IKEv1Phase1Keys
    let cookieInitiator: [UInt8]
    let cookieResponder: [UInt8]

    var blockSize: Int { cipher.blockSize }

    /// Derives the ISAKMP SA keys for pre-shared key authentication (RFC 2409 section 5, Appendix B).
    init(
        suite: IKEv1Phase1Suite, sharedKey: SecretBytes, sharedSecret: SecretBytes, nonceInitiator: [UInt8],
        nonceResponder: [UInt8], cookieInitiator: UInt64, cookieResponder: UInt64
    ) throws {
        let prf = try CryptoSuites.make(prfID: suite.prf.ikev2ID)
        let skeyid = IKEv1KeyDerivation.skeyidPreSharedKey(
            prf: prf, preSharedKey: sharedKey, nonceInitiator: nonceInitiator, nonceResponder: nonceResponder)
        let cookieI = Self.bytes(cookieInitiator)
        let cookieR = Self.bytes(cookieResponder)
        let keys = IKEv1KeyDerivation.phase1Keys(
            prf: prf, skeyid: skeyid, sharedSecret: sharedSecret, cookieInitiator: cookieI, cookieResponder: cookieR)
        try self.init(suite: suite, prf: prf, keys: keys, cookieInitiator: cookieI, cookieResponder: cookieR)
    }

    /// From already derived keys (tests that replay a capture with its logged SKEYIDs).
    init(
        suite: IKEv1Phase1Suite, prf: any PseudoRandomFunction, keys: IKEv1Phase1Keys, cookieInitiator: [UInt8],
        cookieResponder: [UInt8]
    ) throws {
        let keyLength = try CryptoSuites.encryptionKeyLength(
            encryptionID: suite.encryption.ikev2ID, keyBits: suite.encryption.keyLengthBits)
        let key = try IKEv1KeyDerivation.encryptionKey(prf: prf, skeyidE: keys.skeyidE, length: keyLength)
        guard
            case .cipher(let cipher) = try CryptoSuites.make(
                encryptionID: suite.encryption.ikev2ID, keyBits: suite.encryption.keyLengthBits, key: key)
        else { throw IKEv1Failure.unusableSuite("\(suite.encryption.keyword) is not a CBC cipher") }
        self.suite = suite
        self.prf = prf
        self.cipher = cipher
        self.keys = keys
        self.cookieInitiator = cookieInitiator
        self.cookieResponder = cookieResponder
    }

    // MARK: - IVs (RFC 2409 Appendix B)

    /// The IV of Main Mode message 5: `hash(g^xi | g^xr)` truncated to the block size.
    func phase1IV(publicInitiator: [UInt8], publicResponder: [UInt8]) throws -> [UInt8] {
        try IKEv1KeyDerivation.phase1IV(
            prf: prf, publicInitiator: publicInitiator, publicResponder: publicResponder, blockSize: blockSize)
    }

    /// The first IV of a Quick Mode or Informational exchange: `hash(last phase 1 block | M-ID)`.
    func phase2IV(lastPhase1Block: [UInt8], messageID: UInt32) throws -> [UInt8] {
        try IKEv1KeyDerivation.phase2IV(
            prf: prf, lastPhase1Block: lastPhase1Block, messageID: messageID, blockSize: blockSize)
    }

    // MARK: - Messages

    /// Serializes `payloads`, pads them with zeros to whole blocks, encrypts them with `iv` and returns
    /// the datagram and its last ciphertext block (the next IV of the exchange).
    func encrypt(
        cookieInitiator: UInt64, cookieResponder: UInt64, exchange: ISAKMPExchangeType, messageID: UInt32,
        payloads: [ISAKMPPayload], iv: [UInt8]
    ) throws -> (bytes: [UInt8], lastBlock: [UInt8]) {
        var plaintext = ISAKMPPayloadChain.serialize(payloads)
        let padding = (blockSize - plaintext.count % blockSize) % blockSize
        plaintext += [UInt8](repeating: 0, count: padding)
        try plaintext.withUnsafeMutableBytes { buffer in
            try iv.withUnsafeBytes { try cipher.encrypt(buffer, iv: $0) }
        }
        let message = ISAKMPMessage(
            initiatorCookie: cookieInitiator, responderCookie: cookieResponder, exchangeType: exchange,
            messageID: messageID,
            body: .encrypted(
                firstPayloadType: payloads.first?.payloadType ?? .none,
                ciphertext: plaintext))
        return (message.serialize(), Array(plaintext.suffix(blockSize)))
    }

    /// Decrypts an encrypted message with `iv`: its payloads, the raw plaintext (for HASH computations)
    /// and the last ciphertext block. Throws when the body is not whole blocks or does not parse (with a
    /// wrong key, the usual outcome).
    func decrypt(_ message: ISAKMPMessage, iv: [UInt8]) throws -> Decrypted {
        guard case .encrypted(let first, let ciphertext) = message.body else {
            throw IKEv1Failure.notEncrypted
        }
        guard !ciphertext.isEmpty, ciphertext.count % blockSize == 0, iv.count == blockSize else {
            throw IKEv1Failure.malformed(
                "encrypted body of \(ciphertext.count) bytes is not whole \(blockSize)-byte blocks")
        }
        var plaintext = ciphertext
        try plaintext.withUnsafeMutableBytes { buffer in
            try iv.withUnsafeBytes { try cipher.decrypt(buffer, iv: $0) }
        }
        let payloads: [ISAKMPPayload]
        do {
            payloads = try ISAKMPPayloadChain.parseDecrypted(plaintext[...], firstPayloadType: first)
        } catch {
            throw IKEv1Failure.undecryptable("\(error)")
        }
        return Decrypted(payloads: payloads, plaintext: plaintext, lastBlock: Array(ciphertext.suffix(blockSize)))
    }

    /// Decrypts a Quick Mode or Informational message with `iv` and checks the HASH payload it must
    /// start with (`name`: HASH(1), HASH(2) or HASH(3)) against `expected`, which is computed from the
    /// decrypted message (RFC 2409 sections 5.5 and 5.7). Throws when either fails.
    func decrypt(
        _ message: ISAKMPMessage, iv: [UInt8], verifying name: String, expected: (Decrypted) -> [UInt8]
    ) throws -> Decrypted {
        let decrypted = try decrypt(message, iv: iv)
        guard case .hash(let hash)? = decrypted.payloads.first else { throw IKEv1Failure.missingPayload(name) }
        guard ConstantTime.equal(hash.data, expected(decrypted)) else { throw IKEv1Failure.hashMismatch(name) }
        return decrypted
    }

    /// The first message of a Quick Mode or Informational exchange, decrypted with the IV derived from
    /// `lastPhase1Block` and its message ID, and its HASH(1) over everything after it checked.
    func decryptFirstMessage(_ message: ISAKMPMessage, lastPhase1Block: [UInt8]) throws -> Decrypted {
        let iv = try phase2IV(lastPhase1Block: lastPhase1Block, messageID: message.messageID)
        return try decrypt(message, iv: iv, verifying: "HASH(1)") { decrypted in
            hash1(messageID: message.messageID, rest: decrypted.afterFirstPayload)
        }
    }

    struct Decrypted {
        var payloads: [ISAKMPPayload]
        var plaintext: [UInt8]
        var lastBlock: [UInt8]

        /// The bytes after the first payload up to the end of the last one (without padding): what the
        /// HASH of Quick Mode and Informational messages covers (RFC 2409 section 5.5).
        var afterFirstPayload: [UInt8] {
            let extents = IKEv1Raw.payloadExtents(plaintext, count: payloads.count)
            guard extents.count == payloads.count, let first = extents.first, let last = extents.last else { return [] }
            return Array(plaintext[first.upperBound..<last.upperBound])
        }
    }

    // MARK: - HASH payloads

    /// `HASH_I` or `HASH_R` of Main Mode (RFC 2409 section 5).
    func phase1Hash(
        ofInitiator: Bool, publicInitiator: [UInt8], publicResponder: [UInt8], initiatorSABody: [UInt8],
        identificationBody: [UInt8]
    ) -> [UInt8] {
        IKEv1KeyDerivation.phase1Hash(
            ofInitiator: ofInitiator, prf: prf, skeyid: keys.skeyid, publicInitiator: publicInitiator,
            publicResponder: publicResponder, cookieInitiator: cookieInitiator, cookieResponder: cookieResponder,
            saBody: initiatorSABody, identificationBody: identificationBody)
    }

    /// `prf(SKEYID_a, M-ID | rest)`: Quick Mode HASH(1) and the Informational HASH(1) (RFC 2409 5.5, 5.7).
    func hash1(messageID: UInt32, rest: [UInt8]) -> [UInt8] {
        prf.compute(key: keys.skeyidA, [.bytes(Self.bytes(messageID)), .bytes(rest)]).copyBytes()
    }

    /// Quick Mode `HASH(2) = prf(SKEYID_a, M-ID | Ni_b | rest)`.
    func hash2(messageID: UInt32, nonceInitiator: [UInt8], rest: [UInt8]) -> [UInt8] {
        prf.compute(key: keys.skeyidA, [.bytes(Self.bytes(messageID)), .bytes(nonceInitiator), .bytes(rest)])
            .copyBytes()
    }

    /// Quick Mode `HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b)`.
    func hash3(messageID: UInt32, nonceInitiator: [UInt8], nonceResponder: [UInt8]) -> [UInt8] {
        prf.compute(
            key: keys.skeyidA,
            [.byte(0), .bytes(Self.bytes(messageID)), .bytes(nonceInitiator), .bytes(nonceResponder)]
        ).copyBytes()
    }

    // MARK: - Quick Mode keys

    /// The keys of the IPsec SA whose receiver chose `spi` (RFC 2409 section 5.5): encryption key first,
    /// then the integrity key.
    func keys(
        for suite: IKEv1ESPSuite, spi: UInt32, sharedSecret: SecretBytes?, nonceInitiator: [UInt8],
        nonceResponder: [UInt8]
    ) throws -> (encryption: SecretBytes, integrity: SecretBytes) {
        let encryptionLength = try CryptoSuites.encryptionKeyLength(
            encryptionID: suite.encryption.ikev2ID, keyBits: suite.encryption.keyLengthBits)
        let integrityLength =
            try suite.integrity.map { try CryptoSuites.integrityKeyLength(integrityID: $0.ikev2ID) } ?? 0
        let keymat = try IKEv1KeyDerivation.quickModeKeyMaterial(
            prf: prf, skeyidD: keys.skeyidD, sharedSecret: sharedSecret,
            protocolID: ISAKMPProtocolID.esp.rawValue, spi: Self.bytes(spi), nonceInitiator: nonceInitiator,
            nonceResponder: nonceResponder, length: encryptionLength + integrityLength)
        return (keymat.prefix(encryptionLength), keymat.slice(encryptionLength..<(encryptionLength + integrityLength)))
    }

    // MARK: - NAT-D (RFC 3947 section 3.2)

    /// `HASH(CKY-I | CKY-R | IP | Port)` with the negotiated hash.
    static func natDetectionHash(
        prf: any PseudoRandomFunction, cookieInitiator: UInt64, cookieResponder: UInt64, endpoint: UDPEndpoint
    ) -> [UInt8] {
        prf.hash([
            .bytes(bytes(cookieInitiator)), .bytes(bytes(cookieResponder)), .bytes(endpoint.address.bytes),
            .bytes([UInt8(endpoint.port >> 8), UInt8(endpoint.port & 0xFF)]),
        ])
    }

    // MARK: - Bytes

    static func bytes(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) } }
    static func bytes(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }
}

/// Raw views of ISAKMP bytes: the HASH computations cover payloads exactly as they were sent.
enum IKEv1Raw {
    /// The byte ranges of the first `count` payloads of a chain starting at `bytes.startIndex`, each
    /// including its generic header. Stops early on a length that does not fit.
    static func payloadExtents(_ bytes: [UInt8], from start: Int = 0, count: Int) -> [Range<Int>] {
        var extents: [Range<Int>] = []
        var offset = start
        while extents.count < count, offset + 4 <= bytes.count {
            let length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            guard length >= 4, offset + length <= bytes.count else { break }
            extents.append(offset..<(offset + length))
            offset += length
        }
        return extents
    }

    /// The body (without the generic header) of the `index`-th payload of a plaintext message.
    static func payloadBody(ofMessage datagram: [UInt8], index: Int) -> [UInt8]? {
        let extents = payloadExtents(datagram, from: ISAKMPHeader.size, count: index + 1)
        guard extents.count == index + 1 else { return nil }
        return Array(datagram[(extents[index].lowerBound + 4)..<extents[index].upperBound])
    }

    /// The body of a payload as this codec serializes it (our own messages).
    static func body(of payload: ISAKMPPayload) -> [UInt8] {
        Array(ISAKMPPayloadChain.serialize([payload]).dropFirst(ISAKMPPayloadChain.genericHeaderSize))
    }
}
