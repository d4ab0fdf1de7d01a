import IsthmusCrypto
import IsthmusIP
import IsthmusWire

/// The keys of an established IKE SA and what is done with them: protecting and opening `SK`
/// payloads (RFC 7296 section 3.14), the PSK `AUTH` value (section 2.15) and CHILD SA key material
/// (section 2.17).
struct IKEv2SACrypto: Sendable {
    let prf: any PseudoRandomFunction
    let keys: IKEv2SAKeys
    /// The transforms that protect SK payloads. The keyed libcrypto contexts are built for each message
    /// (``outbound()``, ``inbound()``) and freed after it, not held for the SA's life: an idle IKE SA sends a
    /// message a minute at most, and held contexts were about 3.5 KB of every tunnel (a cipher context and an
    /// HMAC state each way), a quarter of a point-to-site client's memory at 10,000 clients. Building one
    /// costs a few microseconds.
    private let encryptionID: UInt16
    private let keyBits: Int?
    private let integrityID: UInt16
    /// Whether we are the original initiator of this IKE SA (selects which protection is ours).
    let weAreInitiator: Bool
    /// AEAD ciphers take a never-repeating IV; a per-SA counter guarantees it (RFC 5282 section 3.1).
    private let isAEAD: Bool

    /// Derives SKEYSEED and the seven keys from a completed IKE_SA_INIT (RFC 7296 section 2.14).
    init(
        suite: NegotiatedIKESuite, sharedSecret: SecretBytes, nonceInitiator: [UInt8], nonceResponder: [UInt8],
        spiInitiator: UInt64, spiResponder: UInt64, weAreInitiator: Bool
    ) throws {
        let prf = try CryptoSuites.make(prfID: suite.prf.ikev2ID)
        let skeyseed = IKEv2KeyDerivation.skeyseed(
            prf: prf, nonceInitiator: nonceInitiator, nonceResponder: nonceResponder, sharedSecret: sharedSecret)
        try self.init(
            suite: suite, prf: prf, skeyseed: skeyseed, nonceInitiator: nonceInitiator, nonceResponder: nonceResponder,
            spiInitiator: spiInitiator, spiResponder: spiResponder, weAreInitiator: weAreInitiator)
    }

    /// Derives the keys from a given SKEYSEED (also used for IKE SA rekeys, section 2.18).
    init(
        suite: NegotiatedIKESuite, prf: any PseudoRandomFunction, skeyseed: SecretBytes, nonceInitiator: [UInt8],
        nonceResponder: [UInt8], spiInitiator: UInt64, spiResponder: UInt64, weAreInitiator: Bool
    ) throws {
        let lengths = try IKEv2KeyLengths(
            prfID: suite.prf.ikev2ID, encryptionID: suite.encryption.ikev2ID, keyBits: suite.encryption.keyLengthBits,
            integrityID: suite.integrity?.ikev2ID)
        let keys = try IKEv2KeyDerivation.ikeSAKeys(
            prf: prf, skeyseed: skeyseed, nonceInitiator: nonceInitiator, nonceResponder: nonceResponder,
            spiInitiator: spiInitiator.bigEndianBytes, spiResponder: spiResponder.bigEndianBytes, lengths: lengths)
        self.prf = prf
        self.keys = keys
        self.encryptionID = suite.encryption.ikev2ID
        self.keyBits = suite.encryption.keyLengthBits
        self.integrityID = suite.integrity?.ikev2ID ?? CryptoSuites.IntegrityID.none
        self.weAreInitiator = weAreInitiator
        self.isAEAD = suite.encryption.isAEAD
        // Both directions are built once here, so that a suite libcrypto cannot key fails now, not later.
        _ = try protection(sentByInitiator: true)
        _ = try protection(sentByInitiator: false)
    }

    /// Protection for messages the IKE SA initiator sends (SK_ei/SK_ai) or the responder sends (SK_er/SK_ar).
    private func protection(sentByInitiator: Bool) throws -> any PacketProtection {
        try CryptoSuites.makeProtection(
            encryptionID: encryptionID, keyBits: keyBits, encryptionKey: sentByInitiator ? keys.skEi : keys.skEr,
            integrityID: integrityID, integrityKey: sentByInitiator ? keys.skAi : keys.skAr)
    }

    /// The protection of the messages we send, keyed for one message.
    private func outbound() throws -> any PacketProtection { try protection(sentByInitiator: weAreInitiator) }
    /// The protection of the messages the peer sends, keyed for one message.
    private func inbound() throws -> any PacketProtection { try protection(sentByInitiator: !weAreInitiator) }

    // MARK: - SK payloads

    /// Serializes a message whose payloads are protected in one SK payload.
    ///
    /// - Parameters:
    ///   - ivSource: fills the IV: a counter for AEADs (never repeats), random bytes for CBC.
    func seal(
        header: IKEv2Message, inner: [IKEv2Payload], ivSource: (inout [UInt8]) -> Void
    ) throws -> [UInt8] {
        let protection = try outbound()
        let body = makeBody(IKEv2PayloadChain.serialize(inner)[...], protection, ivSource: ivSource)
        let type = inner.first?.payloadType ?? .none
        return try sealBody(
            header, .encrypted(IKEv2EncryptedPayload(firstInnerPayloadType: type, body: body)), body.count,
            protection)
    }

    /// The message as SKF fragments of at most `maximumSize` bytes each (RFC 7383 section 2.5), or one
    /// SK message when it fits.
    func sealFragments(
        header: IKEv2Message, inner: [IKEv2Payload], maximumSize: Int, ivSource: (inout [UInt8]) -> Void
    ) throws -> [[UInt8]] {
        let plaintext = IKEv2PayloadChain.serialize(inner)
        let protection = try outbound()
        // Header, SKF header (generic 4 + fragment fields 4), IV, worst-case padding, ICV.
        let overhead = IKEv2Header.size + 8 + protection.ivLength + max(protection.blockSize, 1) + protection.icvLength
        let whole =
            IKEv2Header.size + 4 + protection.ivLength + plaintext.count + max(protection.blockSize, 1)
            + protection.icvLength
        guard whole > maximumSize, maximumSize - overhead >= Self.minimumFragmentPayload else {
            return [try seal(header: header, inner: inner, ivSource: ivSource)]
        }
        let chunk = maximumSize - overhead
        let count = (plaintext.count + chunk - 1) / chunk
        guard count <= IKEFragmentReassembly.maximumFragmentCount else { throw IKEv2Failure.malformedEncryptedPayload }
        let firstType = inner.first?.payloadType ?? .none
        return try (0..<count).map { index in
            let piece = plaintext[(index * chunk)..<min(plaintext.count, (index + 1) * chunk)]
            let body = makeBody(piece, protection, ivSource: ivSource)
            let fragment = IKEv2EncryptedFragmentPayload(
                firstInnerPayloadType: index == 0 ? firstType : .none, fragmentNumber: UInt16(index + 1),
                totalFragments: UInt16(count), body: body)
            return try sealBody(header, .encryptedFragment(fragment), body.count, protection)
        }
    }

    /// Smallest plaintext share per fragment worth sending (below this the size limit is unusable).
    static let minimumFragmentPayload = 64

    /// IV | plaintext | padding | pad length | room for the ICV (RFC 7296 3.14).
    private func makeBody(
        _ plaintext: ArraySlice<UInt8>, _ protection: any PacketProtection, ivSource: (inout [UInt8]) -> Void
    ) -> [UInt8] {
        let block = max(protection.blockSize, 1)
        let padLength = (block - (plaintext.count + 1) % block) % block
        var body = [UInt8](repeating: 0, count: protection.ivLength)
        ivSource(&body)
        body += plaintext
        body += [UInt8](repeating: 0, count: padLength)
        body.append(UInt8(padLength))
        body += [UInt8](repeating: 0, count: protection.icvLength)
        return body
    }

    private func sealBody(
        _ header: IKEv2Message, _ payload: IKEv2Payload, _ bodyCount: Int, _ protection: any PacketProtection
    ) throws -> [UInt8] {
        var message = header
        message.payloads = [payload]
        let body = bodyCount
        var bytes = message.serialize()
        let bodyStart = bytes.count - body
        try bytes.withUnsafeMutableBytes { buffer in
            let aad = UnsafeRawBufferPointer(rebasing: buffer[..<bodyStart])
            let packet = UnsafeMutableRawBufferPointer(rebasing: buffer[bodyStart...])
            try protection.seal(packet, associatedData: aad)
        }
        return bytes
    }

    /// Authenticates and decrypts the SK payload of a received message (its bytes as received).
    func open(_ bytes: [UInt8], message: IKEv2Message) throws -> [IKEv2Payload] {
        guard case .encrypted(let sk)? = message.payloads.last else { throw IKEv2Failure.missingEncryptedPayload }
        let inner = try openBody(bytes, bodyCount: sk.body.count)
        return try IKEv2PayloadChain.parse(inner, firstPayloadType: sk.firstInnerPayloadType)
    }

    /// Authenticates and decrypts one SKF fragment: its share of the inner payload bytes.
    func openFragment(_ bytes: [UInt8], fragment: IKEv2EncryptedFragmentPayload) throws -> ArraySlice<UInt8> {
        try openBody(bytes, bodyCount: fragment.body.count)
    }

    /// Opens the protected body at the end of `bytes`; returns the plaintext without padding.
    private func openBody(_ bytes: [UInt8], bodyCount: Int) throws -> ArraySlice<UInt8> {
        let protection = try inbound()
        var buffer = bytes
        let bodyStart = buffer.count - bodyCount
        try buffer.withUnsafeMutableBytes { raw in
            let aad = UnsafeRawBufferPointer(rebasing: raw[..<bodyStart])
            let packet = UnsafeMutableRawBufferPointer(rebasing: raw[bodyStart...])
            try protection.open(packet, associatedData: aad)
        }
        guard let range = protection.payloadRange(inPacketOfLength: bodyCount) else {
            throw IKEv2Failure.malformedEncryptedPayload
        }
        let plaintext = buffer[(bodyStart + range.lowerBound)..<(bodyStart + range.upperBound)]
        guard let padLength = plaintext.last, Int(padLength) < plaintext.count else {
            throw IKEv2Failure.malformedEncryptedPayload
        }
        return plaintext.prefix(plaintext.count - Int(padLength) - 1)
    }

    // MARK: - AUTH (RFC 7296 section 2.15)

    /// The key pad string of section 2.15.
    static let keyPad = Array("Key Pad for IKEv2".utf8)

    /// AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>), where SignedOctets =
    /// RealMessage | NonceOfPeer | prf(SK_p, IDPayloadBody).
    ///
    /// - Parameter ofInitiator: true for the initiator's AUTH (its message 1, Nr, SK_pi), false for
    ///   the responder's (its message 2, Ni, SK_pr).
    func authentication(
        sharedKey: SecretBytes, ofInitiator: Bool, realMessage: [UInt8], peerNonce: [UInt8],
        identification: IKEv2IdentificationPayload
    ) -> [UInt8] {
        let padKey = prf.compute(key: sharedKey, [.bytes(Self.keyPad)])
        let octets = signedOctets(
            ofInitiator: ofInitiator, realMessage: realMessage, peerNonce: peerNonce, identification: identification)
        return prf.compute(key: padKey, [.bytes(octets)]).copyBytes()
    }

    /// InitiatorSignedOctets or ResponderSignedOctets (section 2.15): RealMessage | NonceOfPeer |
    /// prf(SK_p, IDPayloadBody). A pre-shared key MACs them, a certificate's key signs them.
    func signedOctets(
        ofInitiator: Bool, realMessage: [UInt8], peerNonce: [UInt8], identification: IKEv2IdentificationPayload
    ) -> [UInt8] {
        let idBody = Self.identificationBody(identification)
        let macedID = prf.compute(key: ofInitiator ? keys.skPi : keys.skPr, [.bytes(idBody)])
        return realMessage + peerNonce + macedID.copyBytes()
    }

    /// The ID payload without its generic header: ID type, three reserved bytes, data (section 3.5).
    static func identificationBody(_ identification: IKEv2IdentificationPayload) -> [UInt8] {
        [identification.idType.rawValue, 0, 0, 0] + identification.data
    }

    // MARK: - CHILD SAs (RFC 7296 section 2.17)

    /// KEYMAT for a CHILD SA, split into the initiator->responder and responder->initiator halves.
    func childKeys(
        suite: NegotiatedChildSuite, sharedSecret: SecretBytes?, nonceInitiator: [UInt8], nonceResponder: [UInt8]
    ) throws -> ChildSAKeys {
        let encryptionLength = try CryptoSuites.encryptionKeyLength(
            encryptionID: suite.encryption.ikev2ID, keyBits: suite.encryption.keyLengthBits)
        let integrityLength =
            try suite.integrity.map { try CryptoSuites.integrityKeyLength(integrityID: $0.ikev2ID) }
            ?? 0
        return try IKEv2KeyDerivation.childSAKeys(
            prf: prf, skD: keys.skD, sharedSecret: sharedSecret, nonceInitiator: nonceInitiator,
            nonceResponder: nonceResponder, encryptionKeyLength: encryptionLength, integrityKeyLength: integrityLength)
    }
}

// MARK: - NAT detection (RFC 7296 section 2.23)

enum NATDetection {
    /// SHA-1(SPIi | SPIr | IP | Port), the data of NAT_DETECTION_*_IP notifications.
    static func hash(spiInitiator: UInt64, spiResponder: UInt64, endpoint: UDPEndpoint) -> [UInt8] {
        // PRF_HMAC_SHA1's underlying hash is SHA-1, which is what RFC 7296 2.23 specifies.
        guard let sha1 = try? CryptoSuites.make(prfID: CryptoSuites.PRFID.hmacSHA1) else { return [] }
        return sha1.hash([
            .bytes(spiInitiator.bigEndianBytes), .bytes(spiResponder.bigEndianBytes), .bytes(endpoint.address.bytes),
            .bytes([UInt8(endpoint.port >> 8), UInt8(endpoint.port & 0xff)]),
        ])
    }
}

extension UInt64 {
    var bigEndianBytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: self >> (56 - 8 * $0)) } }

    init(bigEndianBytes bytes: some Collection<UInt8>) {
        self = bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}

extension UInt32 {
    var bigEndianBytes: [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: self >> (24 - 8 * $0)) } }
}
