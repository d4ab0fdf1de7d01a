import Foundation
import IsthmusIKE
import IsthmusTestSupport
import XCTest
import Yams

@testable import IsthmusGateway

/// `auth: certificate`, `gateway.certificate`, `certificate_authorities`, `revoked`, distinguished-name
/// identities, and the strongSwan export of a certificate connection.
final class CertificateConfigTests: XCTestCase {
    /// The office example with certificates; `{gateway}` and `{connection}` take extra lines.
    static func office(gateway: String = defaultGateway, connection: String = "    auth: certificate\n") -> String {
        """
        gateway:
          name: office
          kind: dynamic
          public_address: 198.51.100.10
        \(gateway)site: {prefixes: [192.168.1.0/24]}
        local_networks:
          - {name: cloud, gateway_address: 203.0.113.20, prefixes: [10.0.1.0/24]}
        connections:
          - name: office-cloud
            local_network: cloud
            remote_id: "C=CH, O=Isthmus Test, CN=cloud"
        \(connection)
        """
    }

    static let defaultGateway = """
          certificate: {certificate: office.crt, private_key: office.key}
          certificate_authorities: [root.crt]
          revoked: revoked.txt

        """

    func folder(revoked: String = "# nothing revoked\n") throws -> TemporaryFolder {
        let folder = try TemporaryFolder()
        try folder.write("office.crt", CertificateFixtures.officeCertificate, mode: 0o644)
        try folder.write("office.key", CertificateFixtures.officeKey)
        try folder.write("other.key", CertificateFixtures.cloudKey)
        try folder.write("root.crt", CertificateFixtures.rootA, mode: 0o644)
        try folder.write("revoked.txt", revoked, mode: 0o644)
        return folder
    }

    func testCertificateConnectionLoadsWithItsCredentialRootsAndRevocations() throws {
        let folder = try folder(revoked: "serial 0a11  # the office itself\n")
        let result = load(Self.office(), in: folder)
        let config = try XCTUnwrap(result.config, "\(result.diagnostics)")
        XCTAssertEqual(config.connections[0].authentication, .certificate)
        XCTAssertEqual(config.connections[0].sharedKey.source, .none)
        let certificates = config.gateway.certificates
        XCTAssertEqual(certificates.credential?.value.subjectText, "C=CH, O=Isthmus Test, CN=office")
        XCTAssertEqual(certificates.authoritiesDER.count, 1)
        XCTAssertEqual(certificates.revoked.count, 1)
        guard case .distinguishedName(let der, let text)? = config.connections[0].remoteIdentity else {
            return XCTFail(
                "remote_id is not a distinguished name: \(String(describing: config.connections[0].remoteIdentity))")
        }
        XCTAssertEqual(text, "C=CH, O=Isthmus Test, CN=cloud")
        XCTAssertEqual(der.first, 0x30)
        // Encoded and loaded again: the same model (paths, not key material).
        let encoded = try YAMLEncoder().encode(config)
        XCTAssertFalse(encoded.contains("PRIVATE KEY"))
        XCTAssertEqual(load(encoded, in: folder).config, config, encoded)
    }

    func testCertificateAuthenticationNeedsACertificateAndRoots() throws {
        let folder = try folder()
        let result = load(Self.office(gateway: ""), in: folder)
        XCTAssertNil(result.config)
        let messages = result.errors.map(\.description)
        XCTAssertTrue(
            messages.contains { $0.contains("no certificate of its own") && $0.contains(":12:") }, "\(messages)")
        XCTAssertTrue(messages.contains { $0.contains("trusts no certificate authority") }, "\(messages)")
    }

    func testIKEv1WithCertificatesIsRefusedForNow() throws {
        let result = load(Self.office(connection: "    auth: certificate\n    ike_version: 1\n"), in: try folder())
        XCTAssertTrue(
            result.errors.contains { $0.description.contains("IKEv2 only for now") }, "\(result.errors)")
    }

    func testPSKStillNeedsAKeyAndCertificateRefusesOne() throws {
        let folder = try folder()
        let missing = load(Self.office(connection: ""), in: folder)
        XCTAssertTrue(missing.errors.contains { $0.description.contains("has no 'shared_key'") }, "\(missing.errors)")
        let both = load(
            Self.office(connection: "    auth: certificate\n    shared_key: 0123456789abcdef0123\n"), in: folder)
        XCTAssertTrue(both.errors.contains { $0.description.contains("never uses its shared_key") }, "\(both.errors)")
    }

    func testUnreadableOrMismatchedFilesAreConfigurationErrors() throws {
        let folder = try folder()
        let missing = load(
            Self.office(gateway: "  certificate: {certificate: nowhere.crt, private_key: office.key}\n"), in: folder)
        XCTAssertTrue(
            missing.errors.contains { $0.description.contains("cannot read the certificate file") }, "\(missing.errors)"
        )
        let mismatch = load(
            Self.office(
                gateway: "  certificate: {certificate: office.crt, private_key: other.key}\n"
                    + "  certificate_authorities: [root.crt]\n"), in: folder)
        XCTAssertTrue(
            mismatch.errors.contains { $0.description.contains("cannot be used") }, "\(mismatch.errors)")
        try folder.write("garbage.crt", "not a certificate\n")
        let garbage = load(
            Self.office(gateway: Self.defaultGateway.replacingOccurrences(of: "[root.crt]", with: "[garbage.crt]")),
            in: folder)
        XCTAssertTrue(
            garbage.errors.contains { $0.description.contains("holds no PEM certificate") }, "\(garbage.errors)")
        try folder.write("revoked.txt", "not-hex!\n")
        let badList = load(Self.office(), in: folder)
        XCTAssertNil(badList.config)
    }

    /// `check A B` with certificates: no key to compare, and the identity one end sends without `local_id` is
    /// its certificate's subject.
    func testPairCheckUsesTheCertificateSubject() throws {
        let folder = try folder()
        let cloud = """
            gateway:
              name: cloud
              kind: dynamic
              public_address: 203.0.113.20
              certificate: {certificate: office.crt, private_key: office.key}
              certificate_authorities: [root.crt]
            site: {prefixes: [10.0.1.0/24]}
            local_networks:
              - {name: office, gateway_address: 198.51.100.10, prefixes: [192.168.1.0/24]}
            connections:
              - name: cloud-office
                local_network: office
                auth: certificate
                remote_id: "C=CH, O=Isthmus Test, CN=REMOTE"

            """
        func side(_ name: String, _ text: String) throws -> PairCheckSide {
            let result = load(text, file: name, in: folder)
            return PairCheckSide(
                file: name, config: try XCTUnwrap(result.config, "\(result.errors)"), positions: result.positions)
        }
        // Both ends use the office fixture's certificate (one credential is all the fixtures have for ECDSA).
        let office = try side(
            "office.yaml", Self.office().replacingOccurrences(of: "CN=cloud\"", with: "CN=office\""))
        let matching = PairCheck.check(
            office, try side("cloud.yaml", cloud.replacingOccurrences(of: "CN=REMOTE", with: "CN=office")))
        XCTAssertFalse(
            matching.diagnostics.contains { $0.severity == .error }, matching.diagnostics.map(\.description).joined())
        let other = PairCheck.check(
            office, try side("cloud.yaml", cloud.replacingOccurrences(of: "CN=REMOTE", with: "CN=branch")))
        let messages = other.diagnostics.map(\.description).joined(separator: "\n")
        XCTAssertTrue(messages.contains("its certificate's subject"), messages)
        XCTAssertFalse(messages.contains("pre-shared"), messages)
    }

    /// `reload` after `isthmus pki revoke`: the certificate connection authenticates again (its SAs restart), so a
    /// revoked peer is refused at once; an unchanged list leaves it alone.
    func testReloadWithANewRevocationListRestartsCertificateConnections() throws {
        let folder = try folder()
        let before = try XCTUnwrap(load(Self.office(), in: folder).config)
        XCTAssertEqual(
            ConfigDifference(from: before, to: try XCTUnwrap(load(Self.office(), in: folder).config))
                .change(for: "office-cloud"), .unchanged)
        try folder.write("revoked.txt", "serial 0c10  # cloud\n")
        let after = try XCTUnwrap(load(Self.office(), in: folder).config)
        XCTAssertEqual(
            ConfigDifference(from: before, to: after).change(for: "office-cloud"), .changed(["gateway.revoked"]))
    }

    func testStrongSwanExportUsesPubkey() throws {
        let folder = try folder()
        let config = try XCTUnwrap(load(Self.office(), in: folder).config)
        let peer = try PeerSide(mirroring: "office-cloud", in: config)
        let files = try PeerExport.files(for: peer, device: .strongswan, origin: ExportOrigin(configFile: "o.yaml"))
        let text = files.map(\.contents).joined()
        XCTAssertTrue(text.contains("auth = pubkey"), text)
        XCTAssertTrue(text.contains("certs = office-cloud.crt"), text)
        XCTAssertTrue(text.contains("id = \"C=CH, O=Isthmus Test, CN=office\""), text)
        XCTAssertTrue(text.contains("id = \"C=CH, O=Isthmus Test, CN=cloud\""), text)
        XCTAssertFalse(text.contains("auth = psk"), text)
        XCTAssertFalse(text.contains("secrets {"), text)
        XCTAssertFalse(files.contains(where: \.containsKey))
    }

    /// strongSwan's order: an `@` (or `keyid:`) prefix wins over `=`, so a host name with `=` stays a host name.
    func testAnAtPrefixWinsOverADistinguishedName() {
        XCTAssertEqual(ConfigBuilder.identity(parsing: "@odd=name.example"), .fqdn("odd=name.example"))
        XCTAssertEqual(ConfigBuilder.identity(parsing: "keyid:6f6666696365"), .keyID(Array("office".utf8)))
        guard case .distinguishedName(_, let text)? = ConfigBuilder.identity(parsing: "C=CH, O=Example, CN=office")
        else { return XCTFail("not a distinguished name") }
        XCTAssertEqual(text, "C=CH, O=Example, CN=office")
    }
}
