import Foundation
import IsthmusIP
import XCTest

@testable import IsthmusPKI

/// Certificates, keys and signatures made by strongSwan's `pki` and by `openssl`, read by IsthmusPKI.
final class FixtureTests: XCTestCase {
    private let during = Date(timeIntervalSince1970: 1_830_000_000)  // 2027-12-29

    private func bytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
    }

    private var caDER: [UInt8] { PEM.blocks(Fixtures.caPEM, label: "CERTIFICATE")[0] }

    func testStrongSwanCertificateVerifiesWithItsNamesAsStrongSwanPrintsThem() throws {
        let verifier = CertificateChainVerifier(trustRootsDER: [caDER], revoked: RevocationList())
        let moon = PEM.blocks(Fixtures.moonPEM, label: "CERTIFICATE")[0]
        let verified = try verifier.verify(leafDER: moon, intermediatesDER: [], at: during).get()
        XCTAssertEqual(verified.subjectText, "C=CH, O=strongSwan, CN=moon.strongswan.org")
        XCTAssertEqual(verified.issuerText, "C=CH, O=strongSwan, CN=strongSwan Root CA")
        XCTAssertEqual(
            verified.subjectAltNames, [.dns("moon.strongswan.org"), .ip(try IPAddress(parsing: "192.0.2.1"))])
        XCTAssertEqual(verified.publicKey.keyDescription, "ECDSA P-256")
        XCTAssertEqual(verified.chainLength, 2)
        // strongSwan's ID_DER_ASN1_DN for `id = "C=CH, O=strongSwan, CN=moon.strongswan.org"` is the subject.
        XCTAssertEqual(try DistinguishedNameText.der(fromText: verified.subjectText), verified.subjectDER)
        let details = try CertificateDetails(pem: Fixtures.moonPEM)
        XCTAssertEqual(details.extendedKeyUsages, ["serverAuth", "ikeIntermediate"])
    }

    /// The CERTREQ value of the CA: SHA-1 of its SubjectPublicKeyInfo, as `openssl x509 -pubkey | openssl pkey
    /// -pubin -outform DER | sha1sum` and strongSwan's `pki --keyid` computed it for this fixture.
    func testTrustRootKeyHashIsSHA1OfTheSubjectPublicKeyInfo() throws {
        let verifier = CertificateChainVerifier(trustRootsDER: [caDER, [0x30]], revoked: RevocationList())
        XCTAssertEqual(verifier.trustRootsDER, [caDER])
        XCTAssertEqual(verifier.trustRootKeyHashes, [bytes(Fixtures.caSPKISHA1Hex)])
    }

    func testOpenSSLSignaturesVerify() throws {
        let verifier = CertificateChainVerifier(trustRootsDER: [caDER], revoked: RevocationList())
        let moon = try verifier.verify(
            leafDER: PEM.blocks(Fixtures.moonPEM, label: "CERTIFICATE")[0], intermediatesDER: [], at: during
        ).get()
        XCTAssertTrue(
            moon.publicKey.verify(
                bytes(Fixtures.moonECDSASHA256DERHex), over: Fixtures.signedData, scheme: .ecdsaSHA256))
        let carol = try verifier.verify(
            leafDER: PEM.blocks(Fixtures.carolPEM, label: "CERTIFICATE")[0], intermediatesDER: [], at: during
        ).get()
        XCTAssertEqual(carol.subjectText, "C=CH, O=strongSwan, CN=carol@strongswan.org")
        XCTAssertEqual(carol.subjectAltNames, [.email("carol@strongswan.org")])
        XCTAssertEqual(carol.publicKey.keyDescription, "RSA 2048")
        XCTAssertTrue(
            carol.publicKey.verify(bytes(Fixtures.carolPSSSHA256Hex), over: Fixtures.signedData, scheme: .rsaPSSSHA256))
        XCTAssertTrue(
            carol.publicKey.verify(
                bytes(Fixtures.carolPKCS1SHA384Hex), over: Fixtures.signedData, scheme: .rsaPKCS1SHA384))
        XCTAssertFalse(
            carol.publicKey.verify(
                bytes(Fixtures.carolPKCS1SHA384Hex), over: Fixtures.signedData, scheme: .rsaPKCS1SHA256))
    }

    /// SEC1 "EC PRIVATE KEY" from `pki --gen` and PKCS#1 "RSA PRIVATE KEY" from `openssl genrsa -traditional`.
    func testCredentialsFromStrongSwanAndOpenSSLKeysSign() throws {
        let moon = try LocalCredential(
            certificatePEM: Fixtures.moonPEM, privateKeyPEM: Fixtures.moonKeyPEM, chainPEM: Fixtures.caPEM)
        XCTAssertEqual(moon.intermediatesDER, [caDER])
        XCTAssertEqual(moon.subjectText, "C=CH, O=strongSwan, CN=moon.strongswan.org")
        let signature = try moon.sign(Fixtures.signedData, scheme: .ecdsaSHA256)
        XCTAssertTrue(moon.publicKey.verify(signature, over: Fixtures.signedData, scheme: .ecdsaSHA256))
        let carol = try LocalCredential(certificatePEM: Fixtures.carolPEM, privateKeyPEM: Fixtures.carolKeyPEM)
        // PKCS#1 v1.5 is deterministic: our signature is byte for byte openssl's.
        XCTAssertEqual(
            try carol.sign(Fixtures.signedData, scheme: .rsaPKCS1SHA384), bytes(Fixtures.carolPKCS1SHA384Hex))
        XCTAssertThrowsError(try LocalCredential(certificatePEM: Fixtures.moonPEM, privateKeyPEM: Fixtures.carolKeyPEM))
        {
            XCTAssertEqual($0 as? CertificateFailure, .keyMismatch)
        }
    }
}
