import Foundation
import IsthmusCrypto
import IsthmusTestSupport
import IsthmusWire
import XCTest

/// strongSwan's real exchanges, re-derived and decrypted by our registry, KDFs and suites: the keys
/// we compute from the captured nonces, SPIs and DH secret must equal the ones charon logged, and
/// every SK payload, IKEv1 encrypted message and ESP packet must authenticate and decrypt.
final class CaptureCryptoTests: XCTestCase {
    // MARK: - Helpers

    private func algorithm(_ keyword: String) throws -> Algorithm {
        try XCTUnwrap(AlgorithmRegistry.algorithm(keyword: keyword), keyword)
    }

    /// The registry keyword of strongSwan's log names (AES_CBC_256, HMAC_SHA2_256_128, ...).
    private func keyword(strongSwanName name: String) -> String? {
        [
            "AES_CBC_256": "aes256", "AES_CBC_128": "aes128", "3DES_CBC": "3des", "AES_GCM_16_128": "aes128gcm16",
            "HMAC_SHA1_96": "sha1", "HMAC_SHA2_256_128": "sha256", "PRF_HMAC_SHA1": "prfsha1",
            "PRF_HMAC_SHA2_256": "prfsha256",
        ][name]
    }

    private func hex(_ secret: SecretBytes) -> String { secret.copyBytes().hexString }
    private func hex(_ bytes: [UInt8]) -> String { bytes.hexString }

    /// Opens an ESP or SK body in place: returns the plaintext (IV and ICV removed) or throws.
    private func open(
        _ body: [UInt8], with protection: any PacketProtection, associatedData: [UInt8]
    ) throws -> [UInt8] {
        var buffer = body
        try buffer.withUnsafeMutableBytes { packet in
            try associatedData.withUnsafeBytes { aad in try protection.open(packet, associatedData: aad) }
        }
        let range = try XCTUnwrap(protection.payloadRange(inPacketOfLength: buffer.count))
        return Array(buffer[range])
    }

    // MARK: - IKEv2

    func testIKEv2KeysDeriveAndEveryMessageDecrypts() throws {
        for name in CaptureFixture.ikev2Cases {
            let capture = try CaptureFixture.load(name)
            let logged = try XCTUnwrap(capture.ikeKeys.first)
            let encryption = try algorithm(try XCTUnwrap(keyword(strongSwanName: logged.encryption)))
            let prfAlgorithm = try algorithm(try XCTUnwrap(keyword(strongSwanName: logged.prf)))
            let integrity =
                encryption.isAEAD ? nil : try algorithm(try XCTUnwrap(keyword(strongSwanName: logged.integrity)))
            let prf = try CryptoSuites.make(prfID: prfAlgorithm.ikev2ID)

            // IKE_SA_INIT: nonces and SPIs from the wire.
            let request = try IKEv2Message.parse(try XCTUnwrap(CaptureFixture.ikeBytes(capture.datagrams[0])))
            let response = try IKEv2Message.parse(try XCTUnwrap(CaptureFixture.ikeBytes(capture.datagrams[1])))
            let ni = try nonce(request)
            let nr = try nonce(response)
            let spiI = bytes(request.initiatorSPI)
            let spiR = bytes(response.responderSPI)
            let shared = SecretBytes([UInt8](hex: logged.dhSharedSecret))

            let skeyseed = IKEv2KeyDerivation.skeyseed(
                prf: prf, nonceInitiator: ni, nonceResponder: nr, sharedSecret: shared)
            XCTAssertEqual(hex(skeyseed), logged.skeyseed, "\(name): SKEYSEED")
            let lengths = try IKEv2KeyLengths(
                prfID: prfAlgorithm.ikev2ID, encryptionID: encryption.ikev2ID, keyBits: encryption.keyLengthBits,
                integrityID: integrity?.ikev2ID)
            let keys = try IKEv2KeyDerivation.ikeSAKeys(
                prf: prf, skeyseed: skeyseed, nonceInitiator: ni, nonceResponder: nr, spiInitiator: spiI,
                spiResponder: spiR, lengths: lengths)
            XCTAssertEqual(hex(keys.skD), logged.skD, "\(name): SK_d")
            XCTAssertEqual(hex(keys.skEi), logged.skEi, "\(name): SK_ei")
            XCTAssertEqual(hex(keys.skEr), logged.skEr, "\(name): SK_er")
            XCTAssertEqual(hex(keys.skAi), logged.skAi, "\(name): SK_ai")
            XCTAssertEqual(hex(keys.skAr), logged.skAr, "\(name): SK_ar")
            XCTAssertEqual(hex(keys.skPi), logged.skPi, "\(name): SK_pi")
            XCTAssertEqual(hex(keys.skPr), logged.skPr, "\(name): SK_pr")

            func protection(initiator: Bool) throws -> any PacketProtection {
                try CryptoSuites.makeProtection(
                    encryptionID: encryption.ikev2ID, keyBits: encryption.keyLengthBits,
                    encryptionKey: initiator ? keys.skEi : keys.skEr,
                    integrityID: integrity?.ikev2ID ?? CryptoSuites.IntegrityID.none,
                    integrityKey: initiator ? keys.skAi : keys.skAr)
            }
            let fromInitiator = try protection(initiator: true)
            let fromResponder = try protection(initiator: false)

            // Every SK payload authenticates and decrypts; keep the inner payloads per message.
            var decrypted: [(IKEv2Message, [IKEv2Payload])] = []
            for datagram in capture.datagrams.dropFirst(2) {
                guard let ike = CaptureFixture.ikeBytes(datagram) else { continue }
                let message = try IKEv2Message.parse(ike)
                guard case .encrypted(let sk)? = message.payloads.last else {
                    XCTFail("\(name) #\(datagram.index): no SK payload")
                    continue
                }
                let aad = Array(ike.prefix(ike.count - sk.body.count))
                let sender = message.flags.contains(.initiator) ? fromInitiator : fromResponder
                let plaintext = try open(sk.body, with: sender, associatedData: aad)
                let padLength = Int(try XCTUnwrap(plaintext.last))
                let inner = try IKEv2PayloadChain.parse(
                    plaintext[..<(plaintext.count - padLength - 1)], firstPayloadType: sk.firstInnerPayloadType)
                decrypted.append((message, inner))

                // A flipped bit anywhere in the SK body must fail authentication.
                var tampered = sk.body
                tampered[tampered.count / 2] ^= 0x01
                XCTAssertThrowsError(try open(tampered, with: sender, associatedData: aad), "\(name): tamper accepted")
            }
            XCTAssertEqual(decrypted.count, 8, name)
            let authRequest = try XCTUnwrap(decrypted.first?.1)
            XCTAssertEqual(
                authRequest.map(\.payloadType).filter { $0 != .notify },
                [
                    .identificationInitiator, .identificationResponder, .authentication, .securityAssociation,
                    .trafficSelectorInitiator, .trafficSelectorResponder,
                ], name)

            // CHILD SA keys: the first from IKE_AUTH (Ni, Nr of IKE_SA_INIT), the rekeyed one from the
            // nonces inside the decrypted CREATE_CHILD_SA exchange. Both must equal charon's ESP keys.
            let espEncryption = encryption
            let espIntegrity = integrity
            let espEncryptionLength = try CryptoSuites.encryptionKeyLength(
                encryptionID: espEncryption.ikev2ID, keyBits: espEncryption.keyLengthBits)
            let espIntegrityLength =
                try espIntegrity.map {
                    try CryptoSuites.integrityKeyLength(integrityID: $0.ikev2ID)
                } ?? 0
            var noncePairs: [([UInt8], [UInt8], [UInt32])] = [
                (ni, nr, spis(in: authRequest) + spis(in: decrypted[1].1))
            ]
            if let create = decrypted.firstIndex(where: { $0.0.exchangeType == .createChildSA }) {
                noncePairs.append(
                    (
                        try nonce(decrypted[create].1), try nonce(decrypted[create + 1].1),
                        spis(in: decrypted[create].1) + spis(in: decrypted[create + 1].1)
                    ))
            }
            XCTAssertEqual(noncePairs.count, 2, "\(name): no CHILD_SA rekey found")
            for (childNi, childNr, childSPIs) in noncePairs {
                let child = try IKEv2KeyDerivation.childSAKeys(
                    prf: prf, skD: keys.skD, sharedSecret: nil, nonceInitiator: childNi, nonceResponder: childNr,
                    encryptionKeyLength: espEncryptionLength, integrityKeyLength: espIntegrityLength)
                // The initiator sends to the responder's SPI (the one in the response) with the i->r keys.
                let responderSPI = try XCTUnwrap(childSPIs.last)
                let initiatorSPI = try XCTUnwrap(childSPIs.first)
                let toResponder = try XCTUnwrap(capture.espKeys.first { $0.spiValue == responderSPI }, name)
                let toInitiator = try XCTUnwrap(capture.espKeys.first { $0.spiValue == initiatorSPI }, name)
                XCTAssertEqual(hex(child.initiatorToResponder.encryption), toResponder.encryptionKey, name)
                XCTAssertEqual(hex(child.initiatorToResponder.integrity), toResponder.integrityKey, name)
                XCTAssertEqual(hex(child.responderToInitiator.encryption), toInitiator.encryptionKey, name)
                XCTAssertEqual(hex(child.responderToInitiator.integrity), toInitiator.integrityKey, name)
            }
            try assertESPDecrypts(capture, encryption: espEncryption, integrity: espIntegrity)
        }
    }

    private func nonce(_ message: IKEv2Message) throws -> [UInt8] { try nonce(message.payloads) }

    private func nonce(_ payloads: [IKEv2Payload]) throws -> [UInt8] {
        try XCTUnwrap(payloads.lazy.compactMap { if case .nonce(let n) = $0 { n.nonce } else { nil } }.first)
    }

    /// The ESP SPIs proposed in the SA payloads of a CHILD SA exchange message.
    private func spis(in payloads: [IKEv2Payload]) -> [UInt32] {
        payloads.flatMap { payload -> [UInt32] in
            guard case .securityAssociation(let sa) = payload else { return [] }
            return sa.proposals.compactMap { proposal in
                proposal.spi.count == 4 ? proposal.spi.reduce(0) { $0 << 8 | UInt32($1) } : nil
            }
        }
    }

    private func bytes(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) } }

    // MARK: - ESP

    /// Every ESP packet authenticates, decrypts, has a valid RFC 4303 trailer, and carries an IPv4
    /// ICMP packet between the two inner hosts.
    private func assertESPDecrypts(
        _ capture: CaptureFixture, encryption: Algorithm, integrity: Algorithm?, file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        var count = 0
        for datagram in capture.datagrams where CaptureFixture.ikeBytes(datagram) == nil {
            let packet = datagram.bytes
            let header = try XCTUnwrap(packet.withUnsafeBytes { ESPHeader.parse($0) })
            let keys = try XCTUnwrap(capture.espKeys.first { $0.spiValue == header.spi })
            let protection = try CryptoSuites.makeProtection(
                encryptionID: encryption.ikev2ID, keyBits: encryption.keyLengthBits,
                encryptionKey: SecretBytes([UInt8](hex: keys.encryptionKey)),
                integrityID: integrity?.ikev2ID ?? CryptoSuites.IntegrityID.none,
                integrityKey: SecretBytes([UInt8](hex: keys.integrityKey)))
            let plaintext = try open(
                Array(packet[ESPHeader.size...]), with: protection, associatedData: Array(packet[..<ESPHeader.size]))
            let trailer = try plaintext.withUnsafeBytes { try ESPTrailer.parse($0) }
            XCTAssertEqual(trailer.nextHeader, 4, "IPv4 in tunnel mode", file: file, line: line)
            let inner = plaintext[..<trailer.payloadLength]
            XCTAssertEqual(inner.first.map { $0 >> 4 }, 4, file: file, line: line)
            XCTAssertEqual(inner[inner.startIndex + 9], 1, "ICMP", file: file, line: line)
            let addresses = Set([Array(inner[12..<16]), Array(inner[16..<20])])
            XCTAssertEqual(addresses, [[192, 168, 1, 10], [10, 0, 1, 4]], file: file, line: line)
            count += 1
        }
        XCTAssertGreaterThan(count, 0, file: file, line: line)
    }

    // MARK: - IKEv1

    func testIKEv1KeysDeriveAndEveryMessageDecrypts() throws {
        for name in CaptureFixture.ikev1Cases {
            let capture = try CaptureFixture.load(name)
            let logged = try XCTUnwrap(capture.ikeKeys.first)
            let encryption = try algorithm(try XCTUnwrap(keyword(strongSwanName: logged.encryption)))
            let hash = try algorithm(try XCTUnwrap(keyword(strongSwanName: logged.integrity)))
            let proposal = try Proposal(
                parsing: "\(encryption.keyword)-\(hash.keyword)-modp1024", for: .ike, version: .v1)
            let prfAlgorithm = try XCTUnwrap(proposal.ikev1PRF.first)
            let prf = try CryptoSuites.make(prfID: prfAlgorithm.ikev2ID)

            // Main Mode 1-4 are cleartext: SA, KE and nonces from the wire.
            let messages = try capture.datagrams.compactMap { datagram -> (ISAKMPMessage, ArraySlice<UInt8>)? in
                guard let ike = CaptureFixture.ikeBytes(datagram) else { return nil }
                return (try ISAKMPMessage.parse(ike), ike)
            }
            let cleartext = try messages.prefix(4).map { message, _ -> [ISAKMPPayload] in
                guard case .payloads(let payloads) = message.body else { throw CaptureError.encryptedTooEarly }
                return payloads
            }
            let saBody = Array(ISAKMPPayloadChain.serialize([cleartext[0][0]]).dropFirst(4))
            let gxi = try data(cleartext[2], where: { if case .keyExchange(let d) = $0 { d.data } else { nil } })
            let gxr = try data(cleartext[3], where: { if case .keyExchange(let d) = $0 { d.data } else { nil } })
            let ni = try data(cleartext[2], where: { if case .nonce(let n) = $0 { n.nonce } else { nil } })
            let nr = try data(cleartext[3], where: { if case .nonce(let n) = $0 { n.nonce } else { nil } })
            let cookieI = bytes(messages[0].0.initiatorCookie)
            let cookieR = bytes(messages[1].0.responderCookie)
            let shared = SecretBytes([UInt8](hex: logged.dhSharedSecret))

            let skeyid = IKEv1KeyDerivation.skeyidPreSharedKey(
                prf: prf, preSharedKey: SecretBytes(Array(capture.psk.utf8)), nonceInitiator: ni, nonceResponder: nr)
            XCTAssertEqual(hex(skeyid), logged.skeyid, "\(name): SKEYID")
            let phase1 = IKEv1KeyDerivation.phase1Keys(
                prf: prf, skeyid: skeyid, sharedSecret: shared, cookieInitiator: cookieI, cookieResponder: cookieR)
            XCTAssertEqual(hex(phase1.skeyidD), logged.skeyidD, "\(name): SKEYID_d")
            XCTAssertEqual(hex(phase1.skeyidA), logged.skeyidA, "\(name): SKEYID_a")
            XCTAssertEqual(hex(phase1.skeyidE), logged.skeyidE, "\(name): SKEYID_e")
            let keyLength = try CryptoSuites.encryptionKeyLength(
                encryptionID: encryption.ikev2ID, keyBits: encryption.keyLengthBits)
            let key = try IKEv1KeyDerivation.encryptionKey(prf: prf, skeyidE: phase1.skeyidE, length: keyLength)
            XCTAssertEqual(hex(key), logged.encryptionKey, "\(name): Ka (RFC 2409 appendix B)")
            guard
                case .cipher(let cipher) = try CryptoSuites.make(
                    encryptionID: encryption.ikev2ID, keyBits: encryption.keyLengthBits, key: key)
            else { return XCTFail("\(name): IKEv1 phase 1 cipher is not a plain cipher") }
            let initialIV = try IKEv1KeyDerivation.phase1IV(
                prf: prf, publicInitiator: gxi, publicResponder: gxr, blockSize: cipher.blockSize)
            XCTAssertEqual(hex(initialIV), logged.initialIv, "\(name): phase 1 IV")

            // Decrypt: Main Mode 5 and 6 chain from the phase 1 IV; each later exchange starts from
            // hash(last phase 1 block | message ID) and chains within its message ID (RFC 2409 appendix B).
            var lastBlock: [UInt8] = initialIV
            var lastPhase1Block: [UInt8] = []
            var ivByMessageID: [UInt32: [UInt8]] = [:]
            var quickMode: [[ISAKMPPayload]] = []
            for (offset, (message, _)) in messages.enumerated().dropFirst(4) {
                guard case .encrypted(let firstType, let ciphertext) = message.body else {
                    XCTFail("\(name): cleartext after Main Mode 4")
                    continue
                }
                let iv: [UInt8]
                if message.messageID == 0 {
                    iv = lastBlock
                } else if let chained = ivByMessageID[message.messageID] {
                    iv = chained
                } else {
                    iv = try IKEv1KeyDerivation.phase2IV(
                        prf: prf, lastPhase1Block: lastPhase1Block, messageID: message.messageID,
                        blockSize: cipher.blockSize)
                }
                var plaintext = ciphertext
                try plaintext.withUnsafeMutableBytes { buffer in
                    try iv.withUnsafeBytes { try cipher.decrypt(buffer, iv: $0) }
                }
                let finalBlock = Array(ciphertext.suffix(cipher.blockSize))
                if message.messageID == 0 {
                    lastBlock = finalBlock
                    lastPhase1Block = finalBlock
                } else {
                    ivByMessageID[message.messageID] = finalBlock
                }
                let payloads = try ISAKMPPayloadChain.parseDecrypted(plaintext[...], firstPayloadType: firstType)
                XCTAssertFalse(payloads.isEmpty, name)
                if offset == 4, case .identification(let id)? = payloads.first {
                    // Main Mode 5: HASH_I over the initiator's ID body proves the shared key (RFC 2409 5.4).
                    let idBody = Array(ISAKMPPayloadChain.serialize([.identification(id)]).dropFirst(4))
                    let expected = IKEv1KeyDerivation.phase1Hash(
                        ofInitiator: true, prf: prf, skeyid: skeyid, publicInitiator: gxi, publicResponder: gxr,
                        cookieInitiator: cookieI,
                        cookieResponder: cookieR, saBody: saBody, identificationBody: idBody)
                    let received = try data(payloads, where: { if case .hash(let h) = $0 { h.data } else { nil } })
                    XCTAssertEqual(received, expected, "\(name): HASH_I")
                }
                if message.exchangeType == .quickMode { quickMode.append(payloads) }
            }
            XCTAssertEqual(quickMode.count, 3, name)

            // Quick Mode KEYMAT (no PFS) for each SPI equals charon's ESP keys.
            let qmNi = try data(quickMode[0], where: { if case .nonce(let n) = $0 { n.nonce } else { nil } })
            let qmNr = try data(quickMode[1], where: { if case .nonce(let n) = $0 { n.nonce } else { nil } })
            let espEncryption = encryption
            for esp in capture.espKeys {
                let spi = (0..<4).map { UInt8(truncatingIfNeeded: esp.spiValue >> (24 - 8 * $0)) }
                let length = (esp.encryptionKey.count + esp.integrityKey.count) / 2
                let keymat = try IKEv1KeyDerivation.quickModeKeyMaterial(
                    prf: prf, skeyidD: phase1.skeyidD, sharedSecret: nil, protocolID: 3, spi: spi,
                    nonceInitiator: qmNi, nonceResponder: qmNr, length: length)
                XCTAssertEqual(hex(keymat), esp.encryptionKey + esp.integrityKey, "\(name): KEYMAT for \(esp.spi)")
            }
            try assertESPDecrypts(capture, encryption: espEncryption, integrity: hash)
        }
    }

    private func data(_ payloads: [ISAKMPPayload], where pick: (ISAKMPPayload) -> [UInt8]?) throws -> [UInt8] {
        try XCTUnwrap(payloads.lazy.compactMap(pick).first)
    }

    enum CaptureError: Error { case encryptedTooEarly }
}
