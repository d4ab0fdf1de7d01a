import IsthmusCrypto
import IsthmusTestSupport
import XCTest

final class SuiteIntegrityTests: XCTestCase {
    func testTruncatedHMACVectors() throws {
        for record in try VectorsFile.load("hmac-integrity.txt") {
            let id = UInt16(try record.int("integrity"))
            let key = try record.hex("key")
            let data = try record.hex("data")
            let expected = try record.hex("icv")
            let integrity = try CryptoSuites.make(integrityID: id, key: SecretBytes(key))
            XCTAssertEqual(integrity.keyLength, key.count, record.name)
            XCTAssertEqual(integrity.icvLength, expected.count, record.name)
            XCTAssertEqual(try integrity.icv(for: data), expected, record.name)

            // Split between associated data and payload: same ICV as over the concatenation.
            let split = data.count / 3
            var icv = [UInt8](repeating: 0, count: integrity.icvLength)
            try icv.withUnsafeMutableBytes { out in
                try data[..<split].withUnsafeBytes { head in
                    try data[split...].withUnsafeBytes { tail in
                        try integrity.computeICV(associatedData: head, payload: tail, into: out)
                    }
                }
            }
            XCTAssertEqual(icv, expected, record.name)

            XCTAssertTrue(isValid(integrity, expected, data), record.name)
            var wrong = expected
            wrong[wrong.count - 1] ^= 1
            XCTAssertFalse(isValid(integrity, wrong, data), record.name)
            XCTAssertFalse(isValid(integrity, Array(expected.dropLast()), data), record.name)
        }
    }

    func testIntegritySizesAndErrors() throws {
        let ids = CryptoSuites.IntegrityID.self
        XCTAssertEqual(try CryptoSuites.integritySizes(integrityID: ids.hmacMD5_96).keyLength, 16)
        XCTAssertEqual(try CryptoSuites.integritySizes(integrityID: ids.hmacMD5_96).icvLength, 12)
        XCTAssertEqual(try CryptoSuites.integritySizes(integrityID: ids.hmacSHA1_96).keyLength, 20)
        XCTAssertEqual(try CryptoSuites.integritySizes(integrityID: ids.hmacSHA2_256_128).icvLength, 16)
        XCTAssertEqual(try CryptoSuites.integritySizes(integrityID: ids.hmacSHA2_384_192).icvLength, 24)
        XCTAssertEqual(try CryptoSuites.integrityKeyLength(integrityID: ids.hmacSHA2_512_256), 64)
        XCTAssertThrowsError(try CryptoSuites.make(integrityID: 5, key: SecretBytes(zeros: 16))) {
            XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .unsupportedTransform)
        }
        XCTAssertThrowsError(try CryptoSuites.make(integrityID: ids.hmacSHA2_256_128, key: SecretBytes(zeros: 16))) {
            XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .invalidKeySize)
        }
        let integrity = try CryptoSuites.make(integrityID: ids.hmacSHA1_96, key: SecretBytes(zeros: 20))
        var tooShort = [UInt8](repeating: 0, count: 8)
        XCTAssertThrowsError(
            try tooShort.withUnsafeMutableBytes { out in
                try integrity.computeICV(
                    associatedData: UnsafeRawBufferPointer(start: nil, count: 0),
                    payload: UnsafeRawBufferPointer(start: nil, count: 0), into: out)
            }
        ) { XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .invalidPacketLayout) }
    }

    func testPRFVectors() throws {
        for record in try VectorsFile.load("hmac-prf.txt") {
            let prf = try CryptoSuites.make(prfID: UInt16(try record.int("prf")))
            let key = SecretBytes(try record.hex("key"))
            let data = try record.hex("data")
            let expected = try record.hex("mac")
            XCTAssertEqual(prf.outputLength, expected.count, record.name)
            XCTAssertEqual(prf.preferredKeyLength, expected.count, record.name)
            XCTAssertEqual(prf.compute(key: key, [.bytes(data)]).copyBytes(), expected, record.name)
            // The same input in pieces of every kind.
            guard data.count >= 3 else { continue }
            let pieces: [PRFInput] = [
                .byte(data[0]), .secret(SecretBytes(data[1..<(data.count / 2)])),
                .bytes(Array(data[(data.count / 2)...])),
            ]
            XCTAssertEqual(prf.compute(key: key, pieces).copyBytes(), expected, record.name)
        }
    }

    func testPRFHashAndErrors() throws {
        let sha256 = try CryptoSuites.make(prfID: CryptoSuites.PRFID.hmacSHA2_256)
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        XCTAssertEqual(
            sha256.hash([.bytes(Array("ab".utf8)), .byte(UInt8(ascii: "c"))]).hexString,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
        XCTAssertEqual(try CryptoSuites.prfOutputLength(prfID: CryptoSuites.PRFID.hmacSHA2_384), 48)
        XCTAssertEqual(try CryptoSuites.prfOutputLength(prfID: CryptoSuites.PRFID.hmacMD5), 16)
        XCTAssertThrowsError(try CryptoSuites.make(prfID: 4)) {  // PRF_AES128_XCBC: not implemented
            XCTAssertEqual(($0 as? IsthmusCryptoError)?.code, .unsupportedTransform)
        }
    }

    private func isValid(_ integrity: any IntegrityTransform, _ icv: [UInt8], _ data: [UInt8]) -> Bool {
        icv.withUnsafeBytes { icvBytes in
            data.withUnsafeBytes { payload in
                integrity.isValidICV(
                    icvBytes, associatedData: UnsafeRawBufferPointer(start: nil, count: 0), payload: payload)
            }
        }
    }
}
