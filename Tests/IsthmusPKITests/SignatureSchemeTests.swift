import XCTest

@testable import IsthmusPKI

final class SignatureSchemeTests: XCTestCase {
    private func bytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.filter { !$0.isWhitespace })
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
    }

    /// RFC 7427 appendix A (A.1 PKCS#1 v1.5, A.3 ECDSA) and the RSASSA-PSS encodings strongSwan builds
    /// (its test_signature_params.c: the appendix's A.4.2 as corrected by erratum 4315, without the trailer).
    func testAlgorithmIdentifiersAreByteExact() {
        let expected: [(SignatureScheme, String)] = [
            (.rsaPKCS1SHA1, "300d06092a864886f70d0101050500"),
            (.rsaPKCS1SHA256, "300d06092a864886f70d01010b0500"),
            (.rsaPKCS1SHA384, "300d06092a864886f70d01010c0500"),
            (.rsaPKCS1SHA512, "300d06092a864886f70d01010d0500"),
            (.ecdsaSHA256, "300a06082a8648ce3d040302"),
            (.ecdsaSHA384, "300a06082a8648ce3d040303"),
            (.ecdsaSHA512, "300a06082a8648ce3d040304"),
            (
                .rsaPSSSHA256,
                "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108"
                    + "300d06096086480165030402010500a203020120"
            ),
            (
                .rsaPSSSHA384,
                "304106092a864886f70d01010a3034a00f300d06096086480165030402020500a11c301a06092a864886f70d010108"
                    + "300d06096086480165030402020500a203020130"
            ),
            (
                .rsaPSSSHA512,
                "304106092a864886f70d01010a3034a00f300d06096086480165030402030500a11c301a06092a864886f70d010108"
                    + "300d06096086480165030402030500a203020140"
            ),
        ]
        XCTAssertEqual(expected.count, SignatureScheme.allCases.count)
        for (scheme, hex) in expected {
            XCTAssertEqual(scheme.algorithmIdentifierDER, bytes(hex), "\(scheme)")
            XCTAssertEqual(SignatureScheme(algorithmIdentifierDER: bytes(hex)), scheme)
        }
    }

    /// The appendix's original A.4.2 (with an explicit trailer field of 1) still reads as RSASSA-PSS SHA-256,
    /// and so do the parameter-free ECDSA and NULL-less PKCS#1 variants other implementations send.
    func testEquivalentEncodingsAreAccepted() {
        let rfcOriginal =
            "304606092a864886f70d01010a3039a00f300d06096086480165030402010500a11c301a06092a864886f70d010108"
            + "300d06096086480165030402010500a203020120a303020101"
        XCTAssertEqual(SignatureScheme(algorithmIdentifierDER: bytes(rfcOriginal)), .rsaPSSSHA256)
        XCTAssertEqual(SignatureScheme(algorithmIdentifierDER: bytes("300b06092a864886f70d01010b")), .rsaPKCS1SHA256)
        XCTAssertEqual(SignatureScheme(algorithmIdentifierDER: bytes("300c06082a8648ce3d0403020500")), .ecdsaSHA256)
    }

    func testUnsupportedOrBrokenIdentifiersAreNil() {
        let refused = [
            "300d06092a864886f70d01010a3000",  // PSS with the defaults: SHA-1
            "301e06092a864886f70d01010a3011a00f300d06096086480165030402010500",  // SHA-256, MGF1-SHA-1, salt 20
            // SHA-256, salt 0 (strongSwan's "no salt" case)
            "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108"
                + "300d06096086480165030402010500a203020100",
            "301206092a864886f70d01010a3005a303020102",  // trailer 2
            "300d06092a864886f70d0101040500",  // md5WithRSAEncryption
            "300706052b65700500",  // Ed25519 with parameters
            "", "30", "3000", "300d06092a864886f70d01010b05", "ffffffff",
        ]
        for hex in refused {
            XCTAssertNil(SignatureScheme(algorithmIdentifierDER: bytes(hex)), hex)
        }
    }

    /// Every prefix and every single-byte change of every encoding: nil or a scheme, never a crash.
    func testMutatedIdentifiersNeverCrash() {
        for scheme in SignatureScheme.allCases {
            let der = scheme.algorithmIdentifierDER
            for length in 0..<der.count {
                XCTAssertNil(SignatureScheme(algorithmIdentifierDER: Array(der.prefix(length))))
            }
            for index in der.indices {
                for flip: UInt8 in [0x01, 0x80, 0xff] {
                    var mutated = der
                    mutated[index] ^= flip
                    _ = SignatureScheme(algorithmIdentifierDER: mutated)
                }
            }
        }
    }
}
