import IsthmusTestSupport
import XCTest

@testable import IsthmusWire

/// CERT and CERTREQ contents, RFC 7427 Digital Signature AUTH data and SIGNATURE_HASH_ALGORITHMS: round
/// trips, strongSwan's bytes, and garbage that must throw ``WireError`` rather than trap.
final class IKEv2CertificateAuthenticationTests: XCTestCase {
    /// ecdsa-with-SHA256 as RFC 7427 appendix A.3.1 and strongSwan write it.
    static let ecdsaSHA256Identifier = [UInt8](hex: "300a06082a8648ce3d040302")

    func testDigitalSignatureRoundTripAndLayout() throws {
        let auth = IKEv2DigitalSignature(algorithmIdentifier: Self.ecdsaSHA256Identifier, signature: [1, 2, 3])
        XCTAssertEqual(auth.bytes, [12] + Self.ecdsaSHA256Identifier + [1, 2, 3])
        XCTAssertEqual(try IKEv2DigitalSignature(parsing: auth.bytes), auth)
    }

    func testDigitalSignatureRejectsMalformedData() {
        assertWireError(.truncated) { try IKEv2DigitalSignature(parsing: []) }
        assertWireError(.lengthMismatch) { try IKEv2DigitalSignature(parsing: [0, 0x30, 1]) }
        // The length claims more than there is.
        assertWireError(.truncated) { try IKEv2DigitalSignature(parsing: [40] + Self.ecdsaSHA256Identifier) }
        // An identifier but no signature.
        assertWireError(.truncated) {
            try IKEv2DigitalSignature(parsing: [12] + Self.ecdsaSHA256Identifier)
        }
        // Not a SEQUENCE.
        assertWireError(.invalidValue) { try IKEv2DigitalSignature(parsing: [2, 0x04, 0x00, 0xaa]) }
    }

    func testCertificateRequestListsHashes() throws {
        let hashes = [[UInt8](repeating: 0xab, count: 20), [UInt8](repeating: 0xcd, count: 20)]
        let payload = IKEv2CertificateAuthorities(keyHashes: hashes).payload
        XCTAssertEqual(payload.encoding, .x509Signature)
        XCTAssertEqual(payload.data.count, 40)
        XCTAssertEqual(try IKEv2CertificateAuthorities(parsing: payload).keyHashes, hashes)
        XCTAssertEqual(
            try IKEv2CertificateAuthorities(parsing: CertificatePayload(encoding: .x509Signature, data: [])).keyHashes,
            [])
    }

    func testCertificateRequestRejectsBadLengthsAndEncodings() {
        assertWireError(.lengthMismatch) {
            try IKEv2CertificateAuthorities(parsing: CertificatePayload(encoding: .x509Signature, data: [1, 2, 3]))
        }
        assertWireError(.limitExceeded) {
            try IKEv2CertificateAuthorities(
                parsing: CertificatePayload(encoding: .x509Signature, data: [UInt8](repeating: 1, count: 20 * 65)))
        }
        assertWireError(.invalidValue) {
            try IKEv2CertificateAuthorities(parsing: CertificatePayload(encoding: .crl, data: []))
        }
    }

    func testCertificateContentByEncoding() throws {
        let der: [UInt8] = [0x30, 0x03, 0x02, 0x01, 0x00]
        XCTAssertEqual(
            try IKEv2CertificateContent(parsing: CertificatePayload(encoding: .x509Signature, data: der)),
            .x509(der: der))
        let hash = [UInt8](repeating: 9, count: 20)
        let hashAndURL = IKEv2CertificateContent.hashAndURL(sha1: hash, url: "http://ca.example/office.der")
        XCTAssertEqual(try IKEv2CertificateContent(parsing: hashAndURL.payload), hashAndURL)
        XCTAssertEqual(
            try IKEv2CertificateContent(parsing: CertificatePayload(encoding: .crl, data: [7])), .other(.crl, [7]))
        assertWireError(.truncated) {
            try IKEv2CertificateContent(parsing: CertificatePayload(encoding: .x509Signature, data: []))
        }
        assertWireError(.truncated) {
            try IKEv2CertificateContent(parsing: CertificatePayload(encoding: .hashAndURLOfX509Certificate, data: hash))
        }
        assertWireError(.invalidValue) {
            try IKEv2CertificateContent(
                parsing: CertificatePayload(encoding: .hashAndURLOfX509Certificate, data: hash + [0x0a, 0x41]))
        }
    }

    func testSignatureHashAlgorithmsAsStrongSwanSendsThem() throws {
        // strongSwan 5.9/6.0: SHA2-256, SHA2-384, SHA2-512, Identity.
        let data = [UInt8](hex: "0002000300040005")
        let algorithms = try IKEv2HashAlgorithm.parseList(data)
        XCTAssertEqual(algorithms, [.sha256, .sha384, .sha512, .identity])
        XCTAssertEqual(IKEv2NotifyPayload.signatureHashAlgorithms(algorithms).data, data)
        XCTAssertEqual(IKEv2NotifyPayload.signatureHashAlgorithms(algorithms).notifyType.rawValue, 16431)
        assertWireError(.lengthMismatch) { try IKEv2HashAlgorithm.parseList([0, 2, 0]) }
        assertWireError(.limitExceeded) { try IKEv2HashAlgorithm.parseList([UInt8](repeating: 0, count: 66)) }
    }

    func testMessageWithCertificatePayloadsRoundTrips() throws {
        let message = IKEv2Message(
            initiatorSPI: 1, responderSPI: 2, exchangeType: .ikeAuth, flags: [.initiator], messageID: 1,
            payloads: [
                .certificate(IKEv2CertificateContent.x509(der: [0x30, 0x00]).payload),
                .certificateRequest(IKEv2CertificateAuthorities(keyHashes: [[UInt8](repeating: 1, count: 20)]).payload),
                .authentication(
                    IKEv2AuthenticationPayload(
                        method: .digitalSignature,
                        data: IKEv2DigitalSignature(algorithmIdentifier: Self.ecdsaSHA256Identifier, signature: [5])
                            .bytes)),
                .notify(.signatureHashAlgorithms([.sha256, .sha384])),
            ])
        XCTAssertEqual(try IKEv2Message.parse(message.serialize()).payloads, message.payloads)
    }

    /// Mutated CERT, CERTREQ, AUTH and notify bodies: every decoder either answers or throws, never traps.
    func testGarbageNeverTraps() {
        let auth = IKEv2DigitalSignature(algorithmIdentifier: Self.ecdsaSHA256Identifier, signature: [1, 2, 3]).bytes
        let certificateRequest = [UInt8](repeating: 0xab, count: 40)
        let hashAndURL = [UInt8](repeating: 9, count: 20) + Array("http://x/".utf8)
        var outcomes = 0
        for (index, mutant) in mutants(of: auth + certificateRequest + hashAndURL, count: 3000, seed: 14)
            .enumerated()
        {
            let encoding = CertificateEncoding(rawValue: UInt8(truncatingIfNeeded: index % 16))
            let payload = CertificatePayload(encoding: encoding, data: mutant)
            outcomes += (try? IKEv2DigitalSignature(parsing: mutant)) == nil ? 0 : 1
            outcomes += (try? IKEv2CertificateAuthorities(parsing: payload)) == nil ? 0 : 1
            outcomes += (try? IKEv2CertificateContent(parsing: payload)) == nil ? 0 : 1
            outcomes += (try? IKEv2HashAlgorithm.parseList(mutant)) == nil ? 0 : 1
        }
        XCTAssertGreaterThan(outcomes, 0)
    }
}
