import XCTest

@testable import IsthmusPKI

final class SigningTests: XCTestCase {
    private let data = Array("IKE_SA_INIT message | Nonce | prf(SK_p, ID)".utf8)

    private func credential(_ kind: KeyKind) throws -> LocalCredential {
        let pki = try TestPKI()
        return try pki.credential(try pki.leaf(kind: kind))
    }

    func testEverySchemeRoundTripsWithTheMatchingKeyType() throws {
        let ecdsa = try credential(.ecdsaP256)
        let rsa = try credential(.rsa2048)
        for scheme in SignatureScheme.allCases {
            let signer = scheme.isECDSA ? ecdsa : rsa
            let signature = try signer.sign(data, scheme: scheme)
            XCTAssertTrue(signer.publicKey.verify(signature, over: data, scheme: scheme), "\(scheme)")
            var tampered = data
            tampered[0] ^= 1
            XCTAssertFalse(signer.publicKey.verify(signature, over: tampered, scheme: scheme), "\(scheme)")
            var badSignature = signature
            badSignature[badSignature.count / 2] ^= 0x40
            XCTAssertFalse(signer.publicKey.verify(badSignature, over: data, scheme: scheme), "\(scheme)")
            // The other key type neither signs nor verifies the scheme.
            let other = scheme.isECDSA ? rsa : ecdsa
            XCTAssertThrowsError(try other.sign(data, scheme: scheme))
            XCTAssertFalse(other.publicKey.verify(signature, over: data, scheme: scheme))
        }
        // A signature made with one hash does not pass for another.
        let sha256 = try rsa.sign(data, scheme: .rsaPKCS1SHA256)
        XCTAssertFalse(rsa.publicKey.verify(sha256, over: data, scheme: .rsaPKCS1SHA384))
        let pss = try rsa.sign(data, scheme: .rsaPSSSHA256)
        XCTAssertFalse(rsa.publicKey.verify(pss, over: data, scheme: .rsaPKCS1SHA256))
    }

    /// Method 14 carries ECDSA as DER ECDSA-Sig-Value: a SEQUENCE of two INTEGERs.
    func testECDSASignaturesAreDEROnMethod14AndRawOnMethods9To11() throws {
        let expectations: [(KeyKind, Int, SignatureScheme)] = [
            (.ecdsaP256, 64, .ecdsaSHA256), (.ecdsaP384, 96, .ecdsaSHA384), (.ecdsaP521, 132, .ecdsaSHA512),
        ]
        for (kind, rawLength, scheme) in expectations {
            let signer = try credential(kind)
            XCTAssertEqual(signer.defaultScheme, scheme)
            let der = try signer.sign(data, scheme: scheme)
            XCTAssertEqual(der.first, 0x30, "\(kind)")
            XCTAssertFalse(signer.publicKey.verifyRaw(der, over: data, scheme: scheme))
            let raw = try signer.signRaw(data)
            XCTAssertEqual(raw.count, rawLength, "\(kind)")
            XCTAssertTrue(signer.publicKey.verifyRaw(raw, over: data, scheme: scheme), "\(kind)")
            XCTAssertFalse(signer.publicKey.verify(raw, over: data, scheme: scheme), "\(kind)")
            XCTAssertFalse(signer.publicKey.verifyRaw(Array(raw.dropLast()), over: data, scheme: scheme))
            XCTAssertEqual(signer.publicKey.rawECDSAScheme, scheme)
        }
    }

    func testRSARawSignatureIsMethodOnePKCS1SHA1() throws {
        let signer = try credential(.rsa2048)
        XCTAssertEqual(signer.defaultScheme, .rsaPKCS1SHA256)
        let raw = try signer.signRaw(data)
        XCTAssertEqual(raw.count, 256)
        XCTAssertTrue(signer.publicKey.verifyRaw(raw, over: data, scheme: .rsaPKCS1SHA1))
        XCTAssertTrue(signer.publicKey.verify(raw, over: data, scheme: .rsaPKCS1SHA1))
        XCTAssertNil(signer.publicKey.rawECDSAScheme)
    }

    func testKeyDescriptions() throws {
        XCTAssertEqual(try credential(.ecdsaP256).keyDescription, "ECDSA P-256")
        XCTAssertEqual(try credential(.ecdsaP384).publicKey.keyDescription, "ECDSA P-384")
        XCTAssertEqual(try credential(.rsa2048).publicKey.keyDescription, "RSA 2048")
    }

    func testGarbageSignaturesAreFalseNotCrashes() throws {
        let ecdsa = try credential(.ecdsaP256)
        let rsa = try credential(.rsa2048)
        let garbage: [[UInt8]] = [
            [], [0x30], [0x30, 0x00], Array(repeating: 0xff, count: 64), Array(repeating: 0, count: 256),
        ]
        for signature in garbage {
            for scheme in SignatureScheme.allCases {
                XCTAssertFalse(ecdsa.publicKey.verify(signature, over: data, scheme: scheme))
                XCTAssertFalse(ecdsa.publicKey.verifyRaw(signature, over: data, scheme: scheme))
                XCTAssertFalse(rsa.publicKey.verify(signature, over: data, scheme: scheme))
            }
        }
    }

    func testKeyThatDoesNotMatchTheCertificateIsRefused() throws {
        let pki = try TestPKI()
        let leaf = try pki.leaf()
        let otherKey = try SigningKey(kind: .ecdsaP256)
        XCTAssertThrowsError(
            try LocalCredential(
                certificatePEM: PEM.encode(leaf.der, label: "CERTIFICATE"), privateKeyPEM: otherKey.pemRepresentation)
        ) { XCTAssertEqual($0 as? CertificateFailure, .keyMismatch) }
        XCTAssertThrowsError(
            try LocalCredential(certificatePEM: "not a certificate", privateKeyPEM: leaf.key.pemRepresentation)
        ) {
            guard case .malformed = $0 as? CertificateFailure else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(
            try LocalCredential(
                certificatePEM: PEM.encode(leaf.der, label: "CERTIFICATE"),
                privateKeyPEM: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
    }
}

final class PublicKeyEncodingTests: XCTestCase {
    /// The SPKI is the whole SEQUENCE (algorithm and key) and reads back as the same key.
    func testSubjectPublicKeyInfoRoundTrips() throws {
        for kind in [KeyKind.ecdsaP256, .ecdsaP384, .rsa2048] {
            let key = try SigningKey(kind: kind).publicKey
            let der = key.subjectPublicKeyInfoDER
            XCTAssertEqual(der.first, 0x30, "\(kind)")
            let again = try PeerPublicKey(subjectPublicKeyInfoDER: der)
            XCTAssertEqual(again.subjectPublicKeyInfoDER, der)
            XCTAssertEqual(again.keyDescription, key.keyDescription)
        }
        // P-256: SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING of 66 bytes } is 91 bytes.
        XCTAssertEqual(try SigningKey(kind: .ecdsaP256).publicKey.subjectPublicKeyInfoDER.count, 91)
        XCTAssertThrowsError(try PeerPublicKey(subjectPublicKeyInfoDER: [0x30, 0x00]))
    }
}
