import IsthmusCrypto
import XCTest

final class KDFIKEv1Tests: XCTestCase {
    private func records(_ type: String) throws -> [VectorRecord] {
        let selected = try VectorsFile.load("ikev1-kdf.txt").filter { $0.fields["type"] == type }
        XCTAssertFalse(selected.isEmpty, type)
        return selected
    }

    func testSignatureSKEYIDAndPhase1Keys() throws {
        for record in try records("signature") {
            let prf = try CryptoSuites.make(prfID: UInt16(try record.int("prf")))
            let gxy = SecretBytes(try record.hex("gxy"))
            // Signature SKEYID (RFC 2409 section 5) is the formula IKEv2 kept as SKEYSEED.
            let skeyid = IKEv2KeyDerivation.skeyseed(
                prf: prf, nonceInitiator: try record.hex("ni"), nonceResponder: try record.hex("nr"), sharedSecret: gxy
            )
            XCTAssertEqual(skeyid.copyBytes(), try record.hex("skeyid"), record.name)
            try checkPhase1Keys(prf: prf, skeyid: skeyid, gxy: gxy, record: record)
        }
    }

    func testPreSharedKeySKEYID() throws {
        for record in try records("psk-skeyid") + records("psk") {
            let prf = try CryptoSuites.make(prfID: UInt16(try record.int("prf")))
            let skeyid = IKEv1KeyDerivation.skeyidPreSharedKey(
                prf: prf, preSharedKey: SecretBytes(try record.hex("psk")), nonceInitiator: try record.hex("ni"),
                nonceResponder: try record.hex("nr")
            )
            XCTAssertEqual(skeyid.copyBytes(), try record.hex("skeyid"), record.name)
            if record.has("skeyid_d") {
                try checkPhase1Keys(prf: prf, skeyid: skeyid, gxy: SecretBytes(try record.hex("gxy")), record: record)
            }
        }
    }

    func testAppendixBEncryptionKey() throws {
        for record in try records("appendix-b") {
            let prf = try CryptoSuites.make(prfID: UInt16(try record.int("prf")))
            let key = try IKEv1KeyDerivation.encryptionKey(
                prf: prf, skeyidE: SecretBytes(try record.hex("skeyid_e")), length: try record.int("length")
            )
            XCTAssertEqual(key.copyBytes(), try record.hex("key"), record.name)
        }
        let prf = try CryptoSuites.make(prfID: CryptoSuites.PRFID.hmacSHA1)
        XCTAssertThrowsError(
            try IKEv1KeyDerivation.encryptionKey(prf: prf, skeyidE: SecretBytes(zeros: 20), length: -1))
        XCTAssertThrowsError(
            try IKEv1KeyDerivation.encryptionKey(prf: prf, skeyidE: SecretBytes(zeros: 20), length: 256 * 20)
        ) { XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .outputTooLong) }
    }

    func testQuickModeKeyMaterial() throws {
        for record in try records("quick-mode") {
            let prf = try CryptoSuites.make(prfID: UInt16(try record.int("prf")))
            let protocolID = try XCTUnwrap(try record.hex("protocol").first)
            let keymat = try IKEv1KeyDerivation.quickModeKeyMaterial(
                prf: prf,
                skeyidD: SecretBytes(try record.hex("skeyid_d")),
                sharedSecret: record.has("gqm") ? SecretBytes(try record.hex("gqm")) : nil,
                protocolID: protocolID,
                spi: try record.hex("spi"),
                nonceInitiator: try record.hex("ni"),
                nonceResponder: try record.hex("nr"),
                length: try record.int("length")
            )
            XCTAssertEqual(keymat.copyBytes(), try record.hex("keymat"), record.name)
        }
    }

    func testMainModeHashesAndIVs() throws {
        for record in try records("main-mode") {
            let prf = try CryptoSuites.make(prfID: UInt16(try record.int("prf")))
            let skeyid = SecretBytes(try record.hex("skeyid"))
            let gxi = try record.hex("gxi")
            let gxr = try record.hex("gxr")
            let ckyi = try record.hex("ckyi")
            let ckyr = try record.hex("ckyr")
            let sai = try record.hex("sai_b")
            let hashI = IKEv1KeyDerivation.phase1Hash(
                ofInitiator: true, prf: prf, skeyid: skeyid, publicInitiator: gxi, publicResponder: gxr,
                cookieInitiator: ckyi,
                cookieResponder: ckyr, saBody: sai, identificationBody: try record.hex("idii_b")
            )
            XCTAssertEqual(hashI, try record.hex("hash_i"), record.name)
            let hashR = IKEv1KeyDerivation.phase1Hash(
                ofInitiator: false, prf: prf, skeyid: skeyid, publicInitiator: gxi, publicResponder: gxr,
                cookieInitiator: ckyi,
                cookieResponder: ckyr, saBody: sai, identificationBody: try record.hex("idir_b")
            )
            XCTAssertEqual(hashR, try record.hex("hash_r"), record.name)
            let blockSize = try record.int("blocksize")
            XCTAssertEqual(
                try IKEv1KeyDerivation.phase1IV(
                    prf: prf, publicInitiator: gxi, publicResponder: gxr, blockSize: blockSize),
                try record.hex("phase1_iv"), record.name
            )
            let messageID = try XCTUnwrap(UInt32(try record.string("message_id"), radix: 16))
            XCTAssertEqual(
                try IKEv1KeyDerivation.phase2IV(
                    prf: prf, lastPhase1Block: try record.hex("last_block"), messageID: messageID, blockSize: blockSize
                ),
                try record.hex("phase2_iv"), record.name
            )
            XCTAssertThrowsError(
                try IKEv1KeyDerivation.phase1IV(prf: prf, publicInitiator: gxi, publicResponder: gxr, blockSize: 0)
            ) { XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .invalidParameter) }
            XCTAssertThrowsError(
                try IKEv1KeyDerivation.phase1IV(
                    prf: prf, publicInitiator: gxi, publicResponder: gxr, blockSize: prf.outputLength + 1
                )
            )
        }
    }

    private func checkPhase1Keys(
        prf: any PseudoRandomFunction, skeyid: SecretBytes, gxy: SecretBytes, record: VectorRecord
    ) throws {
        let keys = IKEv1KeyDerivation.phase1Keys(
            prf: prf, skeyid: skeyid, sharedSecret: gxy, cookieInitiator: try record.hex("ckyi"),
            cookieResponder: try record.hex("ckyr")
        )
        XCTAssertEqual(keys.skeyid, skeyid)
        XCTAssertEqual(keys.skeyidD.copyBytes(), try record.hex("skeyid_d"), record.name)
        XCTAssertEqual(keys.skeyidA.copyBytes(), try record.hex("skeyid_a"), record.name)
        XCTAssertEqual(keys.skeyidE.copyBytes(), try record.hex("skeyid_e"), record.name)
    }
}
