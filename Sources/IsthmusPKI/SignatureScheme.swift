import SwiftASN1

/// A signature scheme of IKEv2's Digital Signature authentication (RFC 7427): key type, padding and hash.
///
/// Its ``algorithmIdentifierDER`` is what the AUTH payload of method 14 carries before the signature, encoded
/// byte for byte as strongSwan sends it (RFC 7427 appendix A, RSASSA-PSS as corrected by its erratum 4315:
/// no trailer field, parameters that equal the defaults left out).
public enum SignatureScheme: Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case ecdsaSHA256
    case ecdsaSHA384
    case ecdsaSHA512
    case rsaPKCS1SHA1
    case rsaPKCS1SHA256
    case rsaPKCS1SHA384
    case rsaPKCS1SHA512
    case rsaPSSSHA256
    case rsaPSSSHA384
    case rsaPSSSHA512

    /// The hash function the scheme signs with.
    public enum Hash: Sendable, Hashable {
        case sha1, sha256, sha384, sha512

        /// The digest length in bytes (also the RSASSA-PSS salt length strongSwan uses).
        public var length: Int {
            switch self {
            case .sha1: 20
            case .sha256: 32
            case .sha384: 48
            case .sha512: 64
            }
        }
    }

    /// The hash function of the scheme.
    public var hash: Hash {
        switch self {
        case .rsaPKCS1SHA1: .sha1
        case .ecdsaSHA256, .rsaPKCS1SHA256, .rsaPSSSHA256: .sha256
        case .ecdsaSHA384, .rsaPKCS1SHA384, .rsaPSSSHA384: .sha384
        case .ecdsaSHA512, .rsaPKCS1SHA512, .rsaPSSSHA512: .sha512
        }
    }

    /// Whether the scheme needs an ECDSA key (otherwise an RSA key).
    public var isECDSA: Bool {
        switch self {
        case .ecdsaSHA256, .ecdsaSHA384, .ecdsaSHA512: true
        default: false
        }
    }

    /// strongSwan's name of the scheme (as in `ike_sa` logs and `swanctl` `auth = pubkey-...`).
    public var description: String {
        switch self {
        case .ecdsaSHA256: "ECDSA_WITH_SHA256_DER"
        case .ecdsaSHA384: "ECDSA_WITH_SHA384_DER"
        case .ecdsaSHA512: "ECDSA_WITH_SHA512_DER"
        case .rsaPKCS1SHA1: "RSA_EMSA_PKCS1_SHA1"
        case .rsaPKCS1SHA256: "RSA_EMSA_PKCS1_SHA2_256"
        case .rsaPKCS1SHA384: "RSA_EMSA_PKCS1_SHA2_384"
        case .rsaPKCS1SHA512: "RSA_EMSA_PKCS1_SHA2_512"
        case .rsaPSSSHA256: "RSA_EMSA_PSS_SHA2_256"
        case .rsaPSSSHA384: "RSA_EMSA_PSS_SHA2_384"
        case .rsaPSSSHA512: "RSA_EMSA_PSS_SHA2_512"
        }
    }

    /// The DER AlgorithmIdentifier of RFC 7427 section 3 (the bytes after the one-byte length in the AUTH data).
    public var algorithmIdentifierDER: [UInt8] {
        switch self {
        case .ecdsaSHA256, .ecdsaSHA384, .ecdsaSHA512:
            // ecdsa-with-SHAx (RFC 5758): no parameters at all.
            return [0x30, 0x0a, 0x06, 0x08] + Self.ecdsaOIDBody(hash)
        case .rsaPKCS1SHA1, .rsaPKCS1SHA256, .rsaPKCS1SHA384, .rsaPKCS1SHA512:
            // shaXWithRSAEncryption (RFC 8017): NULL parameters.
            return [0x30, 0x0d, 0x06, 0x09] + Self.rsaPKCS1OIDBody(hash) + [0x05, 0x00]
        case .rsaPSSSHA256, .rsaPSSSHA384, .rsaPSSSHA512:
            // RSASSA-PSS-params { [0] hash, [1] MGF1(hash), [2] salt = hash length }, trailer left at its default.
            let hashID: [UInt8] = [0x30, 0x0d, 0x06, 0x09] + Self.hashOIDBody(hash) + [0x05, 0x00]
            let mgf: [UInt8] = [0x30, 0x1a, 0x06, 0x09] + Self.mgf1OIDBody + hashID
            let params: [UInt8] =
                [0xa0, 0x0f] + hashID + [0xa1, 0x1c] + mgf + [0xa2, 0x03, 0x02, 0x01, UInt8(hash.length)]
            return [0x30, 0x41, 0x06, 0x09] + Self.rsaPSSOIDBody + [0x30, 0x34] + params
        }
    }

    /// Reads an AlgorithmIdentifier from an AUTH payload of method 14; nil when it is malformed or names a
    /// scheme Isthmus does not verify (RSASSA-PSS only with MGF1 of the same hash and a salt of its length,
    /// as strongSwan, Windows and macOS send it; an explicit trailer field of 1 is accepted).
    public init?(algorithmIdentifierDER der: [UInt8]) {
        if let exact = Self.allCases.first(where: { $0.algorithmIdentifierDER == der }) {
            self = exact
            return
        }
        guard let parsed = try? Self.parse(der) else { return nil }
        self = parsed
    }

    // MARK: - Object identifiers (contents octets)

    static func ecdsaOIDBody(_ hash: Hash) -> [UInt8] {
        let last: UInt8 =
            switch hash {
            case .sha1: 0x01
            case .sha256: 0x02
            case .sha384: 0x03
            case .sha512: 0x04
            }
        // 1.2.840.10045.4.3.x (ecdsa-with-SHA1 is 1.2.840.10045.4.1; never produced here).
        return [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, last]
    }

    static func rsaPKCS1OIDBody(_ hash: Hash) -> [UInt8] {
        let last: UInt8 =
            switch hash {
            case .sha1: 0x05
            case .sha256: 0x0b
            case .sha384: 0x0c
            case .sha512: 0x0d
            }
        return [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, last]
    }

    static func hashOIDBody(_ hash: Hash) -> [UInt8] {
        switch hash {
        case .sha1: [0x2b, 0x0e, 0x03, 0x02, 0x1a]
        case .sha256: [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]
        case .sha384: [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02]
        case .sha512: [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03]
        }
    }

    static let rsaPSSOIDBody: [UInt8] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a]
    static let mgf1OIDBody: [UInt8] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08]

    // MARK: - General parsing (encodings other than strongSwan's exact bytes)

    private struct Unsupported: Error {}

    private static func oid(_ body: [UInt8]) throws -> ASN1ObjectIdentifier {
        try ASN1ObjectIdentifier(derEncoded: [0x06, UInt8(body.count)] + body)
    }

    private static func hash(forOID oid: ASN1ObjectIdentifier) throws -> Hash {
        for candidate in [Hash.sha1, .sha256, .sha384, .sha512] where try Self.oid(hashOIDBody(candidate)) == oid {
            return candidate
        }
        throw Unsupported()
    }

    /// A hash AlgorithmIdentifier: the OID, then NULL or nothing.
    private static func parseHashAlgorithm(_ node: ASN1Node) throws -> Hash {
        try DER.sequence(node, identifier: .sequence) { nodes in
            let hashOID = try ASN1ObjectIdentifier(derEncoded: &nodes)
            if let parameters = nodes.next() { _ = try ASN1Null(derEncoded: parameters) }
            return try hash(forOID: hashOID)
        }
    }

    private static func parse(_ der: [UInt8]) throws -> SignatureScheme {
        let root = try DER.parse(der)
        return try DER.sequence(root, identifier: .sequence) { nodes in
            let algorithm = try ASN1ObjectIdentifier(derEncoded: &nodes)
            let parameters = nodes.next()
            guard nodes.next() == nil else { throw Unsupported() }
            let pkcs1: [(Hash, SignatureScheme)] = [
                (.sha1, .rsaPKCS1SHA1), (.sha256, .rsaPKCS1SHA256), (.sha384, .rsaPKCS1SHA384),
                (.sha512, .rsaPKCS1SHA512),
            ]
            for (hash, scheme) in pkcs1 where try oid(rsaPKCS1OIDBody(hash)) == algorithm {
                if let parameters { _ = try ASN1Null(derEncoded: parameters) }
                return scheme
            }
            let ecdsa: [(Hash, SignatureScheme)] = [
                (.sha256, .ecdsaSHA256), (.sha384, .ecdsaSHA384), (.sha512, .ecdsaSHA512),
            ]
            for (hash, scheme) in ecdsa where try oid(ecdsaOIDBody(hash)) == algorithm {
                if let parameters { _ = try ASN1Null(derEncoded: parameters) }
                return scheme
            }
            guard try algorithm == oid(rsaPSSOIDBody), let parameters else { throw Unsupported() }
            return try parsePSSParameters(parameters)
        }
    }

    /// RSASSA-PSS-params (RFC 8017 A.2.3) with its defaults: SHA-1, MGF1-SHA-1, salt 20, trailer 1.
    private static func parsePSSParameters(_ node: ASN1Node) throws -> SignatureScheme {
        let (hash, mgfHash, salt) = try DER.sequence(node, identifier: .sequence) {
            nodes -> (Hash, Hash, Int) in
            let hash =
                try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) {
                    try parseHashAlgorithm($0)
                } ?? .sha1
            let mgfHash =
                try DER.optionalExplicitlyTagged(&nodes, tagNumber: 1, tagClass: .contextSpecific) { node in
                    try DER.sequence(node, identifier: .sequence) { inner in
                        guard try ASN1ObjectIdentifier(derEncoded: &inner) == oid(mgf1OIDBody),
                            let hashNode = inner.next()
                        else { throw Unsupported() }
                        return try parseHashAlgorithm(hashNode)
                    }
                } ?? .sha1
            let salt =
                try DER.optionalExplicitlyTagged(&nodes, tagNumber: 2, tagClass: .contextSpecific) {
                    try Int(derEncoded: $0)
                } ?? 20
            let trailer =
                try DER.optionalExplicitlyTagged(&nodes, tagNumber: 3, tagClass: .contextSpecific) {
                    try Int(derEncoded: $0)
                } ?? 1
            guard trailer == 1, nodes.next() == nil else { throw Unsupported() }
            return (hash, mgfHash, salt)
        }
        guard hash == mgfHash, salt == hash.length else { throw Unsupported() }
        switch hash {
        case .sha256: return .rsaPSSSHA256
        case .sha384: return .rsaPSSSHA384
        case .sha512: return .rsaPSSSHA512
        case .sha1: throw Unsupported()
        }
    }
}
