import IsthmusCrypto
import IsthmusTestSupport
import XCTest

final class KDFIKEv2Tests: XCTestCase {
    func testVectors() throws {
        for record in try VectorsFile.load("ikev2-kdf.txt") {
            let prf = try CryptoSuites.make(prfID: UInt16(try record.int("prf")))
            let ni = try record.hex("ni")
            let nr = try record.hex("nr")
            let gir = SecretBytes(try record.hex("gir"))
            let girNew = SecretBytes(try record.hex("girnew"))
            let spii = try record.hex("spii")
            let spir = try record.hex("spir")

            let skeyseed = IKEv2KeyDerivation.skeyseed(
                prf: prf, nonceInitiator: ni, nonceResponder: nr, sharedSecret: gir)
            XCTAssertEqual(skeyseed.copyBytes(), try record.hex("skeyseed"), record.name)

            let expectedDKM = try record.hex("dkm")
            let dkm = try IKEv2KeyDerivation.prfPlus(
                prf: prf, key: skeyseed, seed: [.bytes(ni), .bytes(nr), .bytes(spii), .bytes(spir)],
                length: expectedDKM.count
            )
            XCTAssertEqual(dkm.copyBytes(), expectedDKM, record.name)
            // Shorter outputs are prefixes (prf+ truncation).
            for length in [0, 1, 15, prf.outputLength, prf.outputLength + 1] {
                let short = try IKEv2KeyDerivation.prfPlus(
                    prf: prf, key: skeyseed, seed: [.bytes(ni + nr + spii + spir)], length: length
                )
                XCTAssertEqual(short.copyBytes(), Array(expectedDKM.prefix(length)), "\(record.name) \(length)")
            }

            let skD = dkm.prefix(prf.preferredKeyLength)
            let child = try record.hex("dkmchild")
            XCTAssertEqual(
                try IKEv2KeyDerivation.childSAKeyMaterial(
                    prf: prf, skD: skD, sharedSecret: nil, nonceInitiator: ni, nonceResponder: nr, length: child.count
                ).copyBytes(),
                child, record.name
            )
            let childDH = try record.hex("dkmchilddh")
            XCTAssertEqual(
                try IKEv2KeyDerivation.childSAKeyMaterial(
                    prf: prf, skD: skD, sharedSecret: girNew, nonceInitiator: ni, nonceResponder: nr,
                    length: childDH.count
                ).copyBytes(),
                childDH, record.name
            )
            XCTAssertEqual(
                IKEv2KeyDerivation.rekeyedSKEYSEED(
                    prf: prf, previousSKd: skD, sharedSecret: girNew, nonceInitiator: ni, nonceResponder: nr
                ).copyBytes(),
                try record.hex("skeyseedrekey"), record.name
            )
        }
    }

    /// RFC 7296 section 2.14 key order, checked against the published SHA-1 DKM.
    func testIKESAKeySplit() throws {
        let record = try XCTUnwrap(try VectorsFile.load("ikev2-kdf.txt").first)
        let prf = try CryptoSuites.make(prfID: CryptoSuites.PRFID.hmacSHA1)
        // PRF_HMAC_SHA1 + AUTH_HMAC_SHA1_96 + ENCR_AES_CBC-128: 3*20 + 2*20 + 2*16 = 132 bytes = the sample's DKM.
        let lengths = try IKEv2KeyLengths(
            prfID: CryptoSuites.PRFID.hmacSHA1, encryptionID: CryptoSuites.EncryptionID.aesCBC, keyBits: 128,
            integrityID: CryptoSuites.IntegrityID.hmacSHA1_96
        )
        XCTAssertEqual(lengths, IKEv2KeyLengths(prfKeyLength: 20, integrityKeyLength: 20, encryptionKeyLength: 16))
        XCTAssertEqual(lengths.totalLength, 132)
        let skeyseed = SecretBytes(try record.hex("skeyseed"))
        let keys = try IKEv2KeyDerivation.ikeSAKeys(
            prf: prf, skeyseed: skeyseed, nonceInitiator: record.hex("ni"), nonceResponder: record.hex("nr"),
            spiInitiator: record.hex("spii"), spiResponder: record.hex("spir"), lengths: lengths
        )
        let dkm = try record.hex("dkm")
        XCTAssertEqual(keys.skD.copyBytes(), Array(dkm[0..<20]))
        XCTAssertEqual(keys.skAi.copyBytes(), Array(dkm[20..<40]))
        XCTAssertEqual(keys.skAr.copyBytes(), Array(dkm[40..<60]))
        XCTAssertEqual(keys.skEi.copyBytes(), Array(dkm[60..<76]))
        XCTAssertEqual(keys.skEr.copyBytes(), Array(dkm[76..<92]))
        XCTAssertEqual(keys.skPi.copyBytes(), Array(dkm[92..<112]))
        XCTAssertEqual(keys.skPr.copyBytes(), Array(dkm[112..<132]))

        // AEAD suite: no integrity keys, salt included in SK_e (RFC 5282 section 7.1).
        let aead = try IKEv2KeyLengths(
            prfID: CryptoSuites.PRFID.hmacSHA2_256, encryptionID: CryptoSuites.EncryptionID.aesGCM16, keyBits: 256,
            integrityID: nil
        )
        XCTAssertEqual(aead, IKEv2KeyLengths(prfKeyLength: 32, integrityKeyLength: 0, encryptionKeyLength: 36))
    }

    /// RFC 7296 section 2.17: initiator-to-responder first, encryption before integrity.
    func testChildSAKeySplit() throws {
        let record = try XCTUnwrap(try VectorsFile.load("ikev2-kdf.txt").first)
        let prf = try CryptoSuites.make(prfID: CryptoSuites.PRFID.hmacSHA1)
        let skD = SecretBytes(Array(try record.hex("dkm").prefix(20)))
        let keymat = try record.hex("dkmchilddh")
        let keys = try IKEv2KeyDerivation.childSAKeys(
            prf: prf, skD: skD, sharedSecret: SecretBytes(record.hex("girnew")), nonceInitiator: record.hex("ni"),
            nonceResponder: record.hex("nr"), encryptionKeyLength: 32, integrityKeyLength: 20
        )
        XCTAssertEqual(keys.initiatorToResponder.encryption.copyBytes(), Array(keymat[0..<32]))
        XCTAssertEqual(keys.initiatorToResponder.integrity.copyBytes(), Array(keymat[32..<52]))
        XCTAssertEqual(keys.responderToInitiator.encryption.copyBytes(), Array(keymat[52..<84]))
        XCTAssertEqual(keys.responderToInitiator.integrity.copyBytes(), Array(keymat[84..<104]))

        let aead = try IKEv2KeyDerivation.childSAKeys(
            prf: prf, skD: skD, sharedSecret: nil, nonceInitiator: record.hex("ni"), nonceResponder: record.hex("nr"),
            encryptionKeyLength: 36, integrityKeyLength: 0
        )
        let child = try record.hex("dkmchild")
        XCTAssertEqual(aead.initiatorToResponder.encryption.copyBytes(), Array(child[0..<36]))
        XCTAssertTrue(aead.initiatorToResponder.integrity.isEmpty)
        XCTAssertEqual(aead.responderToInitiator.encryption.copyBytes(), Array(child[36..<72]))
    }

    func testPRFPlusLimits() throws {
        let prf = try CryptoSuites.make(prfID: CryptoSuites.PRFID.hmacSHA1)
        let key = SecretBytes(zeros: 20)
        XCTAssertEqual(try IKEv2KeyDerivation.prfPlus(prf: prf, key: key, seed: [], length: 255 * 20).count, 5100)
        XCTAssertThrowsError(try IKEv2KeyDerivation.prfPlus(prf: prf, key: key, seed: [], length: 255 * 20 + 1)) {
            XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .outputTooLong)
        }
        XCTAssertThrowsError(try IKEv2KeyDerivation.prfPlus(prf: prf, key: key, seed: [], length: -1)) {
            XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .invalidParameter)
        }
    }

    /// Both ends derive the same keys and the keys drive a working ESP transform.
    func testDerivedKeysProtectTraffic() throws {
        var generator = SplitMix64(seed: 7)
        let initiator = try DiffieHellman.makeExchange(groupID: DiffieHellman.GroupID.curve25519, using: &generator)
        let responder = try DiffieHellman.makeExchange(groupID: DiffieHellman.GroupID.curve25519, using: &generator)
        let prf = try CryptoSuites.make(prfID: CryptoSuites.PRFID.hmacSHA2_256)
        let ni = [UInt8](repeating: 1, count: 32)
        let nr = [UInt8](repeating: 2, count: 32)
        let keyLength = try CryptoSuites.encryptionKeyLength(
            encryptionID: CryptoSuites.EncryptionID.aesGCM16, keyBits: 256)
        func childKeys(_ me: any DiffieHellmanExchange, _ peer: any DiffieHellmanExchange) throws -> ChildSAKeys {
            let gir = try me.sharedSecret(peerPublicValue: peer.publicValue)
            let skeyseed = IKEv2KeyDerivation.skeyseed(
                prf: prf, nonceInitiator: ni, nonceResponder: nr, sharedSecret: gir)
            let lengths = IKEv2KeyLengths(prfKeyLength: 32, integrityKeyLength: 0, encryptionKeyLength: keyLength)
            let ike = try IKEv2KeyDerivation.ikeSAKeys(
                prf: prf, skeyseed: skeyseed, nonceInitiator: ni, nonceResponder: nr,
                spiInitiator: [1, 2, 3, 4, 5, 6, 7, 8], spiResponder: [8, 7, 6, 5, 4, 3, 2, 1], lengths: lengths
            )
            return try IKEv2KeyDerivation.childSAKeys(
                prf: prf, skD: ike.skD, sharedSecret: nil, nonceInitiator: ni, nonceResponder: nr,
                encryptionKeyLength: keyLength, integrityKeyLength: 0
            )
        }
        let mine = try childKeys(initiator, responder)
        let theirs = try childKeys(responder, initiator)
        XCTAssertEqual(mine.initiatorToResponder.encryption, theirs.initiatorToResponder.encryption)
        XCTAssertNotEqual(mine.initiatorToResponder.encryption, mine.responderToInitiator.encryption)
        let sender = try CryptoSuites.makeProtection(
            encryptionID: CryptoSuites.EncryptionID.aesGCM16, keyBits: 256,
            encryptionKey: mine.initiatorToResponder.encryption, integrityID: nil, integrityKey: nil
        )
        let receiver = try CryptoSuites.makeProtection(
            encryptionID: CryptoSuites.EncryptionID.aesGCM16, keyBits: 256,
            encryptionKey: theirs.initiatorToResponder.encryption, integrityID: nil, integrityKey: nil
        )
        let aad: [UInt8] = [0xc0, 0xff, 0xee, 0x01, 0, 0, 0, 1]
        var packet = try VectorsPacket.seal(
            sender, iv: [0, 0, 0, 0, 0, 0, 0, 1], plaintext: Array("hello".utf8), aad: aad)
        try VectorsPacket.open(receiver, packet: &packet, aad: aad)
        XCTAssertEqual(Array(packet[8..<13]), Array("hello".utf8))
    }
}
