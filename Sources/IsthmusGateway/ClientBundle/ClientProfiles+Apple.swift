import IsthmusCrypto
import IsthmusIP

/// The Apple profile (`.mobileconfig`) of a client bundle.
extension ClientProfiles {
    // MARK: - Apple (.mobileconfig)

    /// The identifiers of an Apple profile's payloads (random in a bundle, fixed in tests).
    public struct AppleIdentifiers: Sendable, Hashable {
        public var profile: String
        public var vpn: String
        public var authority: String
        public var identity: String

        public init(profile: String, vpn: String, authority: String, identity: String) {
            self.profile = profile
            self.vpn = vpn
            self.authority = authority
            self.identity = identity
        }
    }

    /// An unsigned `.mobileconfig`: the CA as `com.apple.security.root`, the client's PKCS#12 (with its
    /// password: the profile is a secret) as `com.apple.security.pkcs12`, and the IKEv2 VPN with the gateway's
    /// first proposals Apple can use. With EAP there is no PKCS#12 payload and macOS asks for the password.
    public static func apple(
        _ model: ClientProfileModel, authorityDER: [UInt8], pkcs12: (der: [UInt8], password: String)?,
        identifiers: AppleIdentifiers
    ) throws(ClientProfileError) -> String {
        let suite = try suite(for: .apple, ike: model.ike, esp: model.esp)
        let prefix = "org.isthmus.\(model.connectionName).\(model.clientName)"
        var payloads: [PlistValue] = [
            .dictionary([
                ("PayloadType", .string("com.apple.security.root")),
                ("PayloadVersion", .integer(1)),
                ("PayloadIdentifier", .string(prefix + ".ca")),
                ("PayloadUUID", .string(identifiers.authority)),
                ("PayloadDisplayName", .string("\(model.connectionName) VPN certificate authority")),
                ("PayloadCertificateFileName", .string("ca.cer")),
                ("PayloadContent", .data(authorityDER)),
            ])
        ]
        var ikev2: [(String, PlistValue)] = [
            ("RemoteAddress", .string(model.serverAddress)),
            ("RemoteIdentifier", .string(model.gatewayCertificateName)),
        ]
        switch model.authentication {
        case .certificate:
            guard let pkcs12 else {
                throw ClientProfileError(
                    platform: .apple, message: "the Apple profile needs the client's PKCS#12 file")
            }
            payloads.append(
                .dictionary([
                    ("PayloadType", .string("com.apple.security.pkcs12")),
                    ("PayloadVersion", .integer(1)),
                    ("PayloadIdentifier", .string(prefix + ".identity")),
                    ("PayloadUUID", .string(identifiers.identity)),
                    ("PayloadDisplayName", .string("\(model.clientName) VPN certificate")),
                    ("PayloadCertificateFileName", .string(model.bundleFile)),
                    ("Password", .string(pkcs12.password)),
                    ("PayloadContent", .data(pkcs12.der)),
                ]))
            ikev2 += [
                ("LocalIdentifier", .string(model.clientIdentity ?? model.clientName)),
                ("AuthenticationMethod", .string("Certificate")),
                ("PayloadCertificateUUID", .string(identifiers.identity)),
                ("CertificateType", .string(appleCertificateType(model.clientKeyType))),
                ("ExtendedAuthEnabled", .integer(0)),
            ]
        case .eapMSCHAPv2(let user):
            ikev2 += [
                ("LocalIdentifier", .string(user)),
                ("AuthenticationMethod", .string("None")),
                ("ExtendedAuthEnabled", .integer(1)),
                ("AuthName", .string(user)),
            ]
        }
        func parameters(_ encryption: String, _ integrity: String?, _ group: String?) -> PlistValue {
            var entries: [(String, PlistValue)] = [("EncryptionAlgorithm", .string(encryption))]
            if let integrity { entries.append(("IntegrityAlgorithm", .string(integrity))) }
            if let group, let number = Int(group) { entries.append(("DiffieHellmanGroup", .integer(number))) }
            entries.append(("LifeTimeInMinutes", .integer(1440)))
            return .dictionary(entries)
        }
        ikev2 += [
            ("EnablePFS", .integer(suite.pfsGroup == nil ? 0 : 1)),
            ("IKESecurityAssociationParameters", parameters(suite.ikeEncryption, suite.ikeIntegrity, suite.ikeGroup)),
            (
                "ChildSecurityAssociationParameters",
                parameters(suite.espEncryption, suite.espIntegrity, suite.pfsGroup ?? suite.ikeGroup)
            ),
        ]
        payloads.append(
            .dictionary([
                ("PayloadType", .string("com.apple.vpn.managed")),
                ("PayloadVersion", .integer(1)),
                ("PayloadIdentifier", .string(prefix + ".vpn")),
                ("PayloadUUID", .string(identifiers.vpn)),
                ("PayloadDisplayName", .string("\(model.connectionName) VPN")),
                ("UserDefinedName", .string(model.connectionName)),
                ("VPNType", .string("IKEv2")),
                ("IKEv2", .dictionary(ikev2)),
                ("IPv4", .dictionary([("OverridePrimary", .integer(model.fullTunnel ? 1 : 0))])),
            ]))
        let profile = PlistValue.dictionary([
            ("PayloadType", .string("Configuration")),
            ("PayloadVersion", .integer(1)),
            ("PayloadIdentifier", .string(prefix)),
            ("PayloadUUID", .string(identifiers.profile)),
            ("PayloadDisplayName", .string("\(model.connectionName) VPN (\(model.clientName))")),
            ("PayloadRemovalDisallowed", .bool(false)),
            ("PayloadContent", .array(payloads)),
        ])
        return PlistValue.document(profile)
    }

    static func appleCertificateType(_ type: ClientKeyType?) -> String {
        switch type {
        case .ecdsa(let bits)?: "ECDSA\(bits)"
        case .rsa?, nil: "RSA"
        }
    }
}
