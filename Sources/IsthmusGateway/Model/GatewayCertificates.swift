import IsthmusPKI

/// How a connection's two ends authenticate in IKE_AUTH (YAML `auth:`).
public enum ConnectionAuthentication: String, Sendable, Hashable, Encodable, CaseIterable {
    /// A pre-shared key (`shared_key`), the default.
    case psk
    /// Certificates: the gateway's own (`gateway.certificate`) against peers certified by
    /// `gateway.certificate_authorities` (IKEv2 only).
    case certificate
}

/// The gateway's certificate material (YAML `gateway.certificate`, `gateway.certificate_authorities`,
/// `gateway.revoked`), read once per configuration load or reload: our credential, the roots peers and clients
/// must chain to, and the revoked certificates. Compared by what identifies it (paths, DER) and encoded as its
/// paths (``GatewaySettings``), never by key material.
public struct GatewayCertificates: Sendable, Hashable {
    /// The files of our own credential, as written (relative paths start at the configuration's folder).
    public struct CredentialFiles: Sendable, Hashable, Encodable {
        public var certificate: String
        public var privateKey: String
        public var chain: String?

        public init(certificate: String, privateKey: String, chain: String?) {
            self.certificate = certificate
            self.privateKey = privateKey
            self.chain = chain
        }

        enum CodingKeys: String, CodingKey {
            case certificate
            case privateKey = "private_key"
            case chain
        }
    }

    /// Our credential and the files it came from; nil without `gateway.certificate`.
    public var credential: (files: CredentialFiles, value: LocalCredential)?
    /// The trust roots' files as written and their certificates (DER, one or more per file).
    public var authorityFiles: [String] = []
    public var authoritiesDER: [[UInt8]] = []
    /// The revocation list's file as written (nil: none) and its entries.
    public var revokedFile: String?
    public var revoked = RevocationList()

    public init() {}

    /// The verifier of peer certificates: our roots and revocation list.
    public var verifier: CertificateChainVerifier {
        CertificateChainVerifier(trustRootsDER: authoritiesDER, revoked: revoked)
    }

    public static func == (lhs: GatewayCertificates, rhs: GatewayCertificates) -> Bool {
        lhs.credential?.files == rhs.credential?.files
            && lhs.credential?.value.certificateDER == rhs.credential?.value.certificateDER
            && lhs.credential?.value.intermediatesDER == rhs.credential?.value.intermediatesDER
            && lhs.authorityFiles == rhs.authorityFiles && lhs.authoritiesDER == rhs.authoritiesDER
            && lhs.revokedFile == rhs.revokedFile && lhs.revoked == rhs.revoked
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(credential?.files)
        hasher.combine(credential?.value.certificateDER)
        hasher.combine(authoritiesDER)
        hasher.combine(revoked)
    }
}

extension GatewaySettings {
    /// As the YAML writes it: the certificate settings by their paths, never key material.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(kind, forKey: .kind)
        try container.encodeIfPresent(publicAddress, forKey: .publicAddress)
        try container.encodeIfPresent(pointToSite, forKey: .pointToSite)
        try container.encodeIfPresent(interface, forKey: .interface)
        try container.encodeIfPresent(certificates.credential?.files, forKey: .certificate)
        if !certificates.authorityFiles.isEmpty {
            try container.encode(certificates.authorityFiles, forKey: .certificateAuthorities)
        }
        try container.encodeIfPresent(certificates.revokedFile, forKey: .revoked)
        try container.encodeIfPresent(bgp, forKey: .bgp)
    }
}
