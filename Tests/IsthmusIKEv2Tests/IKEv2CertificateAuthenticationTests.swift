import Foundation
import IsthmusEvents
import IsthmusIKE
import IsthmusPKI
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

/// IKE_AUTH with certificates (RFC 7296 sections 2.15, 3.6-3.8, RFC 7427) between two cores: ECDSA and RSA in
/// both roles, the AUTH methods chosen, and each refusal with the cause its event names.
final class IKEv2CertificateAuthenticationTests: XCTestCase {
    /// 2027-01-15: inside every fixture's validity.
    static let testDate = Date(timeIntervalSince1970: 1_800_000_000)
    /// 2042-11-19: the leaf certificates (to 2040) have expired, the roots (to 2045) not.
    static let afterExpiry = Date(timeIntervalSince1970: 2_300_000_000)

    static func credential(_ certificate: String, _ key: String) -> LocalCredential {
        try! LocalCredential(certificatePEM: certificate, privateKeyPEM: key)
    }

    static func verifier(roots: [String] = [CertificateFixtures.rootA], revoked: RevocationList = RevocationList())
        -> CertificateChainVerifier
    {
        CertificateChainVerifier(
            trustRootsDER: roots.flatMap { PEM.blocks($0, label: "CERTIFICATE") }, revoked: revoked)
    }

    /// A side of the seed's pair authenticating with `local`, trusting `peers`, at `date`; its identity is its
    /// certificate's subject DN and any certified peer identity is accepted (no `remote_id`).
    static func certified(
        office: Bool, _ local: LocalCredential, peers: CertificateChainVerifier = verifier(), at date: Date = testDate
    ) -> IKEv2Configuration {
        var configuration = configuration(office: office, key: "unused-by-certificates")
        configuration.authentication = .certificate(local: local, peers: peers, wallClock: { date })
        configuration.localIdentity = .distinguishedName(der: local.subjectDER, text: local.subjectText)
        configuration.remoteIdentityConfigured = false
        return configuration
    }

    static let office = credential(CertificateFixtures.officeCertificate, CertificateFixtures.officeKey)
    static let cloud = credential(CertificateFixtures.cloudCertificate, CertificateFixtures.cloudKey)
    static let stranger = credential(CertificateFixtures.strangerCertificate, CertificateFixtures.strangerKey)

    private func assertEstablished(_ pair: Pair, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(pair.initiator.status(now: pair.now).state, .established, file: file, line: line)
        XCTAssertEqual(pair.responder.status(now: pair.now).state, .established, file: file, line: line)
        XCTAssertFalse(pair.installed[.initiator, default: []].isEmpty, file: file, line: line)
        XCTAssertFalse(pair.installed[.responder, default: []].isEmpty, file: file, line: line)
    }

    /// The authentication-failed event of `side`, with its `cause`.
    private func failure(_ pair: Pair, _ side: Pair.Side) -> GatewayEvent? {
        pair.events[side, default: []].first { $0.kind == .authenticationFailed }
    }

    // MARK: - Established

    func testECDSAInitiatorAndRSAResponder() {
        let pair = Pair(
            initiator: Self.certified(office: true, Self.office), responder: Self.certified(office: false, Self.cloud))
        pair.establish()
        assertEstablished(pair)
    }

    func testRSAInitiatorAndECDSAResponder() {
        let pair = Pair(
            initiator: Self.certified(office: false, Self.cloud), responder: Self.certified(office: true, Self.office))
        pair.establish()
        assertEstablished(pair)
    }

    func testSANIdentityAndConfiguredRemoteID() {
        var office = Self.certified(office: true, Self.office)
        office.localIdentity = .fqdn("office.example.test")
        office.remoteIdentity = .distinguishedName(der: Self.cloud.subjectDER, text: Self.cloud.subjectText)
        office.remoteIdentityConfigured = true
        var cloud = Self.certified(office: false, Self.cloud)
        cloud.remoteIdentity = .fqdn("Office.Example.Test")
        cloud.remoteIdentityConfigured = true
        let pair = Pair(initiator: office, responder: cloud)
        pair.establish()
        assertEstablished(pair)
    }

    // MARK: - AUTH methods

    func testMethodFollowsAnnouncedHashesOrKey() throws {
        let octets = Array("signed octets".utf8)
        // The peer announced SHA2-256..512 (RFC 7427): method 14 with the key's own scheme.
        let ecdsa = try IKEv2StateMachine.sign(octets, with: Self.office, peerHashes: [.sha256, .sha384, .sha512])
        XCTAssertEqual(ecdsa.method, .digitalSignature)
        let signature = try IKEv2DigitalSignature(parsing: ecdsa.data)
        XCTAssertEqual(signature.algorithmIdentifier, SignatureScheme.ecdsaSHA256.algorithmIdentifierDER)
        let rsa = try IKEv2StateMachine.sign(octets, with: Self.cloud, peerHashes: [.sha384])
        XCTAssertEqual(
            try IKEv2DigitalSignature(parsing: rsa.data).algorithmIdentifier,
            SignatureScheme.rsaPKCS1SHA384.algorithmIdentifierDER)
        // No announcement: RFC 4754 for ECDSA P-256 (9), RSA with SHA-1 (1); P-384 is 10.
        XCTAssertEqual(try IKEv2StateMachine.sign(octets, with: Self.office, peerHashes: []).method, .ecdsaSHA256P256)
        XCTAssertEqual(
            try IKEv2StateMachine.sign(octets, with: Self.cloud, peerHashes: []).method, .rsaDigitalSignature)
        XCTAssertEqual(
            try IKEv2StateMachine.sign(octets, with: Self.stranger, peerHashes: []).method, .ecdsaSHA384P384)
        // Each verifies with the certificate's key, and not over other octets.
        for (credential, hashes) in [
            (Self.office, []), (Self.cloud, []), (Self.office, [.sha512]), (Self.cloud, [.sha256]),
        ]
            as [(LocalCredential, [IKEv2HashAlgorithm])]
        {
            let auth = try IKEv2StateMachine.sign(octets, with: credential, peerHashes: hashes)
            XCTAssertNoThrow(
                try IKEv2StateMachine.verifySignature(auth, over: octets, key: credential.publicKey, subject: "x"))
            XCTAssertThrowsError(
                try IKEv2StateMachine.verifySignature(auth, over: octets + [0], key: credential.publicKey, subject: "x")
            )
        }
    }

    func testBadSignatureIsNamed() throws {
        let octets = Array("signed octets".utf8)
        var auth = try IKEv2StateMachine.sign(octets, with: Self.office, peerHashes: [.sha256])
        auth.data[auth.data.count - 1] ^= 0x01
        XCTAssertThrowsError(
            try IKEv2StateMachine.verifySignature(auth, over: octets, key: Self.office.publicKey, subject: "CN=office")
        ) { error in
            guard case .badSignature(let reason)? = error as? IKEv2Failure else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("does not verify"), reason)
        }
        // A signature made with another key (the cloud's) under the office certificate.
        let other = try IKEv2StateMachine.sign(octets, with: Self.cloud, peerHashes: [.sha256])
        XCTAssertThrowsError(
            try IKEv2StateMachine.verifySignature(other, over: octets, key: Self.office.publicKey, subject: "x"))
        // A PSK AUTH where a signature is expected.
        XCTAssertThrowsError(
            try IKEv2StateMachine.verifySignature(
                IKEv2AuthenticationPayload(method: .sharedKeyMessageIntegrityCode, data: [1]), over: octets,
                key: Self.office.publicKey, subject: "x"))
        // Garbage as RFC 7427 data.
        XCTAssertThrowsError(
            try IKEv2StateMachine.verifySignature(
                IKEv2AuthenticationPayload(method: .digitalSignature, data: [200, 0x30]), over: octets,
                key: Self.office.publicKey, subject: "x"))
    }

    // MARK: - Refusals

    /// The responder refuses the initiator: its event names `cause`, and the initiator hears
    /// AUTHENTICATION_FAILED.
    private func assertResponderRefuses(
        _ initiator: IKEv2Configuration, _ responder: IKEv2Configuration, cause: String, mentioning text: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let pair = Pair(initiator: initiator, responder: responder)
        pair.establish()
        XCTAssertNotEqual(pair.responder.status(now: pair.now).state, .established, file: file, line: line)
        XCTAssertNotEqual(pair.initiator.status(now: pair.now).state, .established, file: file, line: line)
        let event = failure(pair, .responder)
        XCTAssertEqual(event?.details["cause"], cause, "\(String(describing: event))", file: file, line: line)
        XCTAssertTrue(event?.message.contains(text) ?? false, event?.message ?? "no event", file: file, line: line)
        let heard = pair.events[.initiator, default: []].map(\.message).joined(separator: " | ")
        XCTAssertTrue(heard.contains("AUTHENTICATION_FAILED"), heard, file: file, line: line)
    }

    func testCertificateFromAnotherCAIsRefused() {
        assertResponderRefuses(
            Self.certified(office: true, Self.stranger, peers: Self.verifier(roots: [CertificateFixtures.rootA])),
            Self.certified(office: false, Self.cloud), cause: "unknown-ca", mentioning: "office")
    }

    func testRevokedCertificateIsRefused() {
        var revoked = RevocationList()
        revoked.serials = ["0a11"]
        assertResponderRefuses(
            Self.certified(office: true, Self.office),
            Self.certified(office: false, Self.cloud, peers: Self.verifier(revoked: revoked)), cause: "revoked",
            mentioning: "revoked")
    }

    func testExpiredCertificateIsRefused() {
        assertResponderRefuses(
            Self.certified(office: true, Self.office), Self.certified(office: false, Self.cloud, at: Self.afterExpiry),
            cause: "expired", mentioning: "expired")
    }

    func testIdentityNotInCertificateIsRefused() {
        var office = Self.certified(office: true, Self.office)
        office.localIdentity = .fqdn("branch.example.test")
        assertResponderRefuses(
            office, Self.certified(office: false, Self.cloud), cause: "identity-not-in-certificate",
            mentioning: "branch.example.test")
    }

    func testCertifiedIdentityOtherThanRemoteIDIsRefused() {
        var cloud = Self.certified(office: false, Self.cloud)
        cloud.remoteIdentity = .fqdn("branch.example.test")
        cloud.remoteIdentityConfigured = true
        let pair = Pair(initiator: Self.certified(office: true, Self.office), responder: cloud)
        pair.establish()
        XCTAssertNotEqual(pair.responder.status(now: pair.now).state, .established)
        let message = failure(pair, .responder)?.message ?? ""
        XCTAssertTrue(message.contains("branch.example.test"), message)
    }

    func testInitiatorRefusesResponderFromAnotherCA() {
        let pair = Pair(
            initiator: Self.certified(office: true, Self.office),
            responder: Self.certified(office: false, Self.stranger, peers: Self.verifier()))
        pair.establish()
        XCTAssertNotEqual(pair.initiator.status(now: pair.now).state, .established)
        XCTAssertEqual(failure(pair, .initiator)?.details["cause"], "unknown-ca")
        // The initiator tells the responder in an INFORMATIONAL request (RFC 7296 section 2.21.2), once.
        let sent = pair.sent.filter { $0.from == .initiator }.compactMap { try? IKEv2Message.parse($0.datagram.bytes) }
        XCTAssertEqual(sent.map(\.exchangeType), [.ikeSAInit, .ikeAuth, .informational])
        XCTAssertFalse(sent.last?.flags.contains(.response) ?? true)
    }
}
