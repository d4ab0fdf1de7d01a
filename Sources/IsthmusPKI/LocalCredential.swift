import Crypto
import CryptoExtras
import SwiftASN1
import X509

/// Our own certificate and its private key: what the gateway authenticates with (RFC 7296 3.6, RFC 7427).
public struct LocalCredential: Sendable {
    enum Key: Sendable {
        case p256(P256.Signing.PrivateKey)
        case p384(P384.Signing.PrivateKey)
        case p521(P521.Signing.PrivateKey)
        case rsa(_RSA.Signing.PrivateKey)
    }

    let key: Key

    /// The certificate's DER (the CERT payload's body, encoding 4).
    public let certificateDER: [UInt8]
    /// The chain's certificates above ours, in the order of the chain file (sent as further CERT payloads).
    public let intermediatesDER: [[UInt8]]
    /// The subject DN's DER (the body of an ID_DER_ASN1_DN identity).
    public let subjectDER: [UInt8]
    /// The subject as strongSwan prints it: "C=CH, O=strongSwan, CN=moon".
    public let subjectText: String
    /// The certificate's DNS, email and IP subject alternative names.
    public let subjectAltNames: [SubjectAltName]
    /// The certificate's public key.
    public let publicKey: PeerPublicKey

    /// Reads a certificate, its private key (PKCS#8 "PRIVATE KEY", SEC1 "EC PRIVATE KEY" or PKCS#1
    /// "RSA PRIVATE KEY") and optionally the intermediates above it; the key must belong to the certificate.
    public init(certificatePEM: String, privateKeyPEM: String, chainPEM: String? = nil) throws(CertificateFailure) {
        guard let der = PEM.blocks(certificatePEM, label: "CERTIFICATE").first else {
            throw .malformed("no CERTIFICATE block in the certificate file")
        }
        let certificate = try CertificateDetails(der: der)
        key = try Self.readKey(privateKeyPEM)
        publicKey = try PeerPublicKey(certificate.certificate.publicKey, subject: certificate.subjectText)
        guard Self.publicKeyDER(of: key) == publicKey.subjectPublicKeyInfoDER else { throw .keyMismatch }
        certificateDER = der
        subjectDER = certificate.subjectDER
        subjectText = certificate.subjectText
        subjectAltNames = certificate.subjectAltNames
        var chain: [[UInt8]] = []
        if let chainPEM {
            chain = PEM.blocks(chainPEM, label: "CERTIFICATE")
            for block in chain { _ = try CertificateDetails(der: block) }
        }
        // A chain file that repeats our own certificate first (as fullchain files do) needs no second copy.
        intermediatesDER = chain.filter { $0 != der }
    }

    /// The scheme to sign with when the peer states no preference: ECDSA with the hash that matches the curve,
    /// RSA with PKCS#1 v1.5 and SHA-256 (what every IKEv2 implementation verifies).
    public var defaultScheme: SignatureScheme {
        switch key {
        case .p256: .ecdsaSHA256
        case .p384: .ecdsaSHA384
        case .p521: .ecdsaSHA512
        case .rsa: .rsaPKCS1SHA256
        }
    }

    /// "ECDSA P-256", "RSA 3072".
    public var keyDescription: String { publicKey.keyDescription }

    /// Whether the key can sign with `scheme` (ECDSA schemes need an ECDSA key, RSA schemes an RSA key).
    public func supports(_ scheme: SignatureScheme) -> Bool {
        if case .rsa = key { return !scheme.isECDSA }
        return scheme.isECDSA
    }

    /// Signs as RFC 7427 (AUTH method 14) carries it: ECDSA as DER ECDSA-Sig-Value, RSA PKCS#1 v1.5 or PSS
    /// (salt as long as the hash, MGF1 with the same hash).
    public func sign(_ data: [UInt8], scheme: SignatureScheme) throws(CertificateFailure) -> [UInt8] {
        guard supports(scheme) else {
            throw .unsupportedKey("a \(keyDescription) key cannot sign with \(scheme)")
        }
        do {
            switch key {
            case .p256(let key):
                return Array(try Digests.with(scheme.hash, data) { try key.signature(for: $0) }.derRepresentation)
            case .p384(let key):
                return Array(try Digests.with(scheme.hash, data) { try key.signature(for: $0) }.derRepresentation)
            case .p521(let key):
                return Array(try Digests.with(scheme.hash, data) { try key.signature(for: $0) }.derRepresentation)
            case .rsa(let key):
                let padding: _RSA.Signing.Padding =
                    switch scheme {
                    case .rsaPSSSHA256, .rsaPSSSHA384, .rsaPSSSHA512: .PSS
                    default: .insecurePKCS1v1_5
                    }
                return Array(
                    try Digests.with(scheme.hash, data) { try key.signature(for: $0, padding: padding) }
                        .rawRepresentation)
            }
        } catch {
            throw .unsupportedKey("signing with \(scheme) failed (\(error))")
        }
    }

    /// Signs without an AlgorithmIdentifier: ECDSA as the fixed-length r||s of RFC 4754 with the curve's hash
    /// (IKEv2 AUTH methods 9/10/11), RSA as PKCS#1 v1.5 with SHA-1 (AUTH method 1, RFC 7296 3.8).
    public func signRaw(_ data: [UInt8]) throws(CertificateFailure) -> [UInt8] {
        do {
            switch key {
            case .p256(let key): return Array(try key.signature(for: SHA256.hash(data: data)).rawRepresentation)
            case .p384(let key): return Array(try key.signature(for: SHA384.hash(data: data)).rawRepresentation)
            case .p521(let key): return Array(try key.signature(for: SHA512.hash(data: data)).rawRepresentation)
            case .rsa:
                return try sign(data, scheme: .rsaPKCS1SHA1)
            }
        } catch let failure as CertificateFailure {
            throw failure
        } catch {
            throw .unsupportedKey("signing failed (\(error))")
        }
    }

    /// The private key in PKCS#8 PEM (for files of mode 0600 only).
    public var privateKeyPEM: String {
        switch key {
        case .p256(let key): key.pemRepresentation + "\n"
        case .p384(let key): key.pemRepresentation + "\n"
        case .p521(let key): key.pemRepresentation + "\n"
        case .rsa(let key): key.pkcs8PEMRepresentation + "\n"
        }
    }

    static func readKey(_ pem: String) throws(CertificateFailure) -> Key {
        let documents = PEM.documents(pem)
        guard let document = documents.first(where: { $0.label.hasSuffix("PRIVATE KEY") }) else {
            throw .malformed("no PRIVATE KEY block in the key file")
        }
        if document.label == "ENCRYPTED PRIVATE KEY" {
            throw .unsupportedKey("the private key is encrypted; store it unencrypted in a file of mode 0600")
        }
        let text = PEM.encode(document.der, label: document.label)
        if document.label != "RSA PRIVATE KEY" {
            if let key = try? P256.Signing.PrivateKey(pemRepresentation: text) { return .p256(key) }
            if let key = try? P384.Signing.PrivateKey(pemRepresentation: text) { return .p384(key) }
            if let key = try? P521.Signing.PrivateKey(pemRepresentation: text) { return .p521(key) }
        }
        if document.label != "EC PRIVATE KEY", let key = try? _RSA.Signing.PrivateKey(pemRepresentation: text) {
            guard key.keySizeInBits >= 2048 else {
                throw .unsupportedKey("an RSA key of \(key.keySizeInBits) bits (at least 2048 needed)")
            }
            return .rsa(key)
        }
        throw .unsupportedKey("the private key is neither ECDSA (P-256, P-384, P-521) nor RSA")
    }

    static func publicKeyDER(of key: Key) -> [UInt8] {
        switch key {
        case .p256(let key): PeerPublicKey(backing: .p256(key.publicKey)).subjectPublicKeyInfoDER
        case .p384(let key): PeerPublicKey(backing: .p384(key.publicKey)).subjectPublicKeyInfoDER
        case .p521(let key): PeerPublicKey(backing: .p521(key.publicKey)).subjectPublicKeyInfoDER
        case .rsa(let key): PeerPublicKey(backing: .rsa(key.publicKey)).subjectPublicKeyInfoDER
        }
    }
}
