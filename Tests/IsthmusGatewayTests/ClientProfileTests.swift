import Foundation
import IsthmusCrypto
import IsthmusGateway
import IsthmusIP
import XCTest

/// The client bundle's profiles (`isthmus pki bundle`) as pure functions of the gateway's point-to-site settings.
final class ClientProfileTests: XCTestCase {
    private func proposals(_ text: String, _ proto: ProposalProtocol) throws -> [Proposal] {
        try ProposalList(parsing: [text], for: proto, version: .v2).proposals
    }

    private func model(
        ike: String = "aes256gcm16-prfsha256-ecp256-modp2048, aes256-sha256-ecp256-modp2048",
        esp: String = "aes256gcm16, aes256-sha256", fullTunnel: Bool = false,
        authentication: ClientProfileAuthentication = .certificate
    ) throws -> ClientProfileModel {
        ClientProfileModel(
            connectionName: "cloud", clientName: "alice@example.test", serverAddress: "vpn.cloud.test",
            gatewayIdentity: "C=CH, O=Example, CN=vpn.cloud.test", gatewayCertificateName: "vpn.cloud.test",
            clientIdentity: authentication == .certificate ? "alice@example.test" : nil,
            clientKeyType: authentication == .certificate ? .ecdsa(bits: 256) : nil, authentication: authentication,
            ike: try proposals(ike, .ike), esp: try proposals(esp, .esp),
            networks: [try IPPrefix(parsing: "10.0.1.0/24"), try IPPrefix(parsing: "10.0.2.0/24")],
            fullTunnel: fullTunnel)
    }

    // MARK: - Proposals to platform names

    func testDefaultProposalsTranslateForEachPlatform() throws {
        let defaults = try model()
        let windows = try ClientProfiles.suite(for: .windows, ike: defaults.ike, esp: defaults.esp)
        XCTAssertEqual(
            windows,
            PlatformSuite(
                ikeEncryption: "GCMAES256", ikeIntegrity: "SHA256", ikeGroup: "ECP256", espEncryption: "GCMAES256",
                espIntegrity: "GCMAES256", pfsGroup: nil
            ))
        let apple = try ClientProfiles.suite(for: .apple, ike: defaults.ike, esp: defaults.esp)
        XCTAssertEqual(
            apple,
            PlatformSuite(
                ikeEncryption: "AES-256-GCM", ikeIntegrity: "SHA2-256", ikeGroup: "19", espEncryption: "AES-256-GCM",
                espIntegrity: nil, pfsGroup: nil
            ))
    }

    func testCBCAndPFSTranslate() throws {
        let cbc = try model(ike: "aes128-sha384-modp2048", esp: "aes256-sha256-ecp384")
        let windows = try ClientProfiles.suite(for: .windows, ike: cbc.ike, esp: cbc.esp)
        XCTAssertEqual(
            windows,
            PlatformSuite(
                ikeEncryption: "AES128", ikeIntegrity: "SHA384", ikeGroup: "Group14", espEncryption: "AES256",
                espIntegrity: "SHA256128", pfsGroup: "ECP384"
            ))
        let apple = try ClientProfiles.suite(for: .apple, ike: cbc.ike, esp: cbc.esp)
        XCTAssertEqual(
            apple,
            PlatformSuite(
                ikeEncryption: "AES-128", ikeIntegrity: "SHA2-384", ikeGroup: "14", espEncryption: "AES-256",
                espIntegrity: "SHA2-256", pfsGroup: "20"
            ))
    }

    func testFirstUsableProposalWinsAndWithinOneTheFirstUsableAlgorithm() throws {
        // Windows has no SHA-512 integrity nor Curve25519: the first proposal is skipped; in the second,
        // modp3072 is passed over for modp2048.
        let mixed = try model(ike: "aes256-sha512-curve25519, aes128-sha256-modp3072-modp2048")
        let windows = try ClientProfiles.suite(for: .windows, ike: mixed.ike, esp: mixed.esp)
        XCTAssertEqual(windows.ikeEncryption, "AES128")
        XCTAssertEqual(windows.ikeGroup, "Group14")
        // Apple has both: it takes the first proposal.
        let apple = try ClientProfiles.suite(for: .apple, ike: mixed.ike, esp: mixed.esp)
        XCTAssertEqual(apple.ikeIntegrity, "SHA2-512")
        XCTAssertEqual(apple.ikeGroup, "31")
    }

    func testProposalsAPlatformCannotUseAreATypedRefusal() throws {
        let curve = try model(ike: "aes256-sha512-curve25519")
        XCTAssertThrowsError(try ClientProfiles.suite(for: .windows, ike: curve.ike, esp: curve.esp)) { error in
            let refusal = error as? ClientProfileError
            XCTAssertEqual(refusal?.platform, .windows)
            XCTAssertTrue(refusal?.message.contains("HMAC-SHA2-512-256 as IKE integrity") ?? false, "\(error)")
            XCTAssertTrue(refusal?.message.contains("Curve25519") ?? false, "\(error)")
        }
        XCTAssertThrowsError(try ClientProfiles.windows(curve)) { error in
            XCTAssertEqual((error as? ClientProfileError)?.platform, .windows)
        }
        let aes192 = try model(esp: "aes192-sha256")
        XCTAssertThrowsError(try ClientProfiles.suite(for: .apple, ike: aes192.ike, esp: aes192.esp)) { error in
            XCTAssertTrue("\(error)".contains("AES-192-CBC as ESP encryption"), "\(error)")
        }
        let chacha = try model(esp: "chacha20poly1305")
        XCTAssertNoThrow(try ClientProfiles.suite(for: .apple, ike: chacha.ike, esp: chacha.esp))
        XCTAssertThrowsError(try ClientProfiles.suite(for: .windows, ike: chacha.ike, esp: chacha.esp))
    }

    func testEveryRegistryAlgorithmHasAtMostTheRolesOfItsType() {
        let roles: [TransformType: Set<PlatformAlgorithmRole>] = [
            .encryption: [.ikeEncryption, .espEncryption], .integrity: [.ikeIntegrity, .espIntegrity],
            .prf: [.ikeIntegrity], .keyExchange: [.ikeGroup, .pfsGroup], .extendedSequenceNumbers: [],
        ]
        let all: [PlatformAlgorithmRole] = [
            .ikeEncryption, .ikeIntegrity, .ikeGroup, .espEncryption, .espIntegrity, .pfsGroup,
        ]
        for algorithm in AlgorithmRegistry.all {
            for platform in ClientPlatform.allCases {
                for role in all where algorithm.platformName(platform, as: role) != nil {
                    XCTAssertTrue(
                        roles[algorithm.type]?.contains(role) ?? false, "\(algorithm) named as \(role) on \(platform)")
                }
            }
        }
    }

    // MARK: - strongSwan and NetworkManager

    func testSwanctlCertificateProfile() throws {
        let text = ClientProfiles.swanctl(try model())
        for line in [
            "    cloud {", "        remote_addrs = vpn.cloud.test", "        vips = 0.0.0.0",
            "        proposals = aes256gcm16-prfsha256-ecp256-modp2048, aes256-sha256-prfsha256-ecp256-modp2048",
            "            auth = pubkey", "            certs = alice@example.test.pem",
            "            id = \"alice@example.test\"", "            id = \"C=CH, O=Example, CN=vpn.cloud.test\"",
            "            cacerts = ca.pem", "                remote_ts = 10.0.1.0/24, 10.0.2.0/24",
            "                esp_proposals = aes256gcm16, aes256-sha256", "                start_action = none",
        ] {
            XCTAssertTrue(text.contains(line + "\n"), "missing \(line) in\n\(text)")
        }
        XCTAssertFalse(text.contains("secrets"))
        let full = ClientProfiles.swanctl(try model(fullTunnel: true))
        XCTAssertTrue(full.contains("remote_ts = 0.0.0.0/0\n"))
    }

    func testSwanctlEAPProfileHasAPlaceholderNotAPassword() throws {
        let text = ClientProfiles.swanctl(try model(authentication: .eapMSCHAPv2(user: "alice")))
        XCTAssertTrue(text.contains("auth = eap-mschapv2\n"))
        XCTAssertTrue(text.contains("eap_id = \"alice\"\n"))
        XCTAssertTrue(text.contains("secret = \"\(ClientProfiles.passwordPlaceholder)\"\n"))
        XCTAssertFalse(text.contains(" certs = "))
    }

    func testNetworkManagerKeyfile() throws {
        let text = ClientProfiles.networkManager(try model(), folder: "/home/alice/vpn", uuid: "u-1")
        for line in [
            "[vpn]", "service-type=org.freedesktop.NetworkManager.strongswan", "address=vpn.cloud.test",
            "certificate=/home/alice/vpn/ca.pem", "method=key", "usercert=/home/alice/vpn/alice@example.test.pem",
            "userkey=/home/alice/vpn/alice@example.test.key", "virtual=yes", "proposal=yes",
            "ike=aes256gcm16-prfsha256-ecp256-modp2048;aes256-sha256-prfsha256-ecp256-modp2048",
            "esp=aes256gcm16;aes256-sha256", "remote-ts=10.0.1.0/24;10.0.2.0/24", "never-default=true",
            "uuid=u-1",
        ] {
            XCTAssertTrue(text.contains(line + "\n"), "missing \(line) in\n\(text)")
        }
        let eap = ClientProfiles.networkManager(
            try model(fullTunnel: true, authentication: .eapMSCHAPv2(user: "alice")), folder: "/v", uuid: "u")
        XCTAssertTrue(eap.contains("method=eap\nuser=alice\npassword-flags=2\n"))
        XCTAssertFalse(eap.contains("remote-ts="))
        XCTAssertFalse(eap.contains("never-default"))
    }

    // MARK: - Windows and Apple

    func testWindowsScript() throws {
        let script = try ClientProfiles.windows(try model(esp: "aes256-sha256-modp2048"))
        for part in [
            "Import-PfxCertificate -FilePath (Join-Path $here 'alice@example.test.p12')",
            "Add-VpnConnection -Name 'cloud' -ServerAddress 'vpn.cloud.test' -TunnelType Ikev2 "
                + "-AuthenticationMethod MachineCertificate",
            "-SplitTunneling:$true", "-CipherTransformConstants AES256 -AuthenticationTransformConstants SHA256128",
            "-PfsGroup PFS2048", "-DestinationPrefix 10.0.1.0/24\r\n", "-DestinationPrefix 10.0.2.0/24\r\n",
        ] {
            XCTAssertTrue(script.contains(part), "missing \(part) in\n\(script)")
        }
        let eap = try ClientProfiles.windows(try model(fullTunnel: true, authentication: .eapMSCHAPv2(user: "a")))
        XCTAssertTrue(eap.contains("-AuthenticationMethod Eap -EapConfigXmlStream (New-EapConfiguration)"))
        XCTAssertTrue(eap.contains("-SplitTunneling:$false"))
        XCTAssertFalse(eap.contains("Import-PfxCertificate"))
        XCTAssertFalse(eap.contains("Add-VpnConnectionRoute"))
    }

    func testAppleProfileParsesAsAPropertyList() throws {
        let identifiers = ClientProfiles.AppleIdentifiers(profile: "P", vpn: "V", authority: "A", identity: "I")
        let text = try ClientProfiles.apple(
            try model(ike: "aes128-sha256-modp2048", esp: "aes128gcm16-modp2048"), authorityDER: [1, 2, 3],
            pkcs12: (der: [4, 5, 6], password: "pass<&>word"), identifiers: identifiers)
        let root = try XCTUnwrap(
            try PropertyListSerialization.propertyList(from: Data(text.utf8), format: nil) as? [String: Any])
        XCTAssertEqual(root["PayloadType"] as? String, "Configuration")
        let payloads = try XCTUnwrap(root["PayloadContent"] as? [[String: Any]])
        XCTAssertEqual(
            payloads.compactMap { $0["PayloadType"] as? String },
            ["com.apple.security.root", "com.apple.security.pkcs12", "com.apple.vpn.managed"])
        XCTAssertEqual(payloads[0]["PayloadContent"] as? Data, Data([1, 2, 3]))
        XCTAssertEqual(payloads[1]["PayloadContent"] as? Data, Data([4, 5, 6]))
        XCTAssertEqual(payloads[1]["Password"] as? String, "pass<&>word")
        let ikev2 = try XCTUnwrap(payloads[2]["IKEv2"] as? [String: Any])
        XCTAssertEqual(ikev2["RemoteAddress"] as? String, "vpn.cloud.test")
        XCTAssertEqual(ikev2["RemoteIdentifier"] as? String, "vpn.cloud.test")
        XCTAssertEqual(ikev2["AuthenticationMethod"] as? String, "Certificate")
        XCTAssertEqual(ikev2["PayloadCertificateUUID"] as? String, "I")
        XCTAssertEqual(ikev2["CertificateType"] as? String, "ECDSA256")
        XCTAssertEqual(ikev2["EnablePFS"] as? Int, 1)
        let ike = try XCTUnwrap(ikev2["IKESecurityAssociationParameters"] as? [String: Any])
        XCTAssertEqual(ike["EncryptionAlgorithm"] as? String, "AES-128")
        XCTAssertEqual(ike["IntegrityAlgorithm"] as? String, "SHA2-256")
        XCTAssertEqual(ike["DiffieHellmanGroup"] as? Int, 14)
        let child = try XCTUnwrap(ikev2["ChildSecurityAssociationParameters"] as? [String: Any])
        XCTAssertEqual(child["EncryptionAlgorithm"] as? String, "AES-128-GCM")
        XCTAssertNil(child["IntegrityAlgorithm"])
        XCTAssertEqual(child["DiffieHellmanGroup"] as? Int, 14)
    }

    func testAppleEAPProfileHasNoIdentityPayload() throws {
        let identifiers = ClientProfiles.AppleIdentifiers(profile: "P", vpn: "V", authority: "A", identity: "I")
        let text = try ClientProfiles.apple(
            try model(authentication: .eapMSCHAPv2(user: "alice")), authorityDER: [1], pkcs12: nil,
            identifiers: identifiers)
        XCTAssertFalse(text.contains("com.apple.security.pkcs12"))
        XCTAssertTrue(text.contains("<key>ExtendedAuthEnabled</key>\n\t\t\t\t<integer>1</integer>"))
        XCTAssertThrowsError(
            try ClientProfiles.apple(try model(), authorityDER: [1], pkcs12: nil, identifiers: identifiers))
    }
}
