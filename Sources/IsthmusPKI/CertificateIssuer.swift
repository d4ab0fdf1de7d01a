import Crypto
import CryptoExtras
import Foundation
import SwiftASN1
import X509

/// The key types `isthmus pki` creates.
public enum KeyKind: String, Sendable, CaseIterable, CustomStringConvertible {
    case ecdsaP256 = "ecdsa-p256"
    case ecdsaP384 = "ecdsa-p384"
    case ecdsaP521 = "ecdsa-p521"
    case rsa2048 = "rsa-2048"
    case rsa3072 = "rsa-3072"

    public var description: String { rawValue }
}

/// A private key for issuing or for our own credential.
public struct SigningKey: Sendable {
    let key: LocalCredential.Key

    /// A new key of `kind` from the system's random generator.
    public init(kind: KeyKind) throws(CertificateFailure) {
        switch kind {
        case .ecdsaP256: key = .p256(P256.Signing.PrivateKey())
        case .ecdsaP384: key = .p384(P384.Signing.PrivateKey())
        case .ecdsaP521: key = .p521(P521.Signing.PrivateKey())
        case .rsa2048, .rsa3072:
            do {
                key = .rsa(try _RSA.Signing.PrivateKey(keySize: kind == .rsa2048 ? .bits2048 : .bits3072))
            } catch {
                throw .unsupportedKey("RSA key generation failed (\(error))")
            }
        }
    }

    /// Reads a PEM private key (PKCS#8, SEC1 or PKCS#1).
    public init(pem: String) throws(CertificateFailure) {
        key = try LocalCredential.readKey(pem)
    }

    /// The key in PKCS#8 PEM (for files of mode 0600 only).
    public var pemRepresentation: String {
        switch key {
        case .p256(let key): key.pemRepresentation + "\n"
        case .p384(let key): key.pemRepresentation + "\n"
        case .p521(let key): key.pemRepresentation + "\n"
        case .rsa(let key): key.pkcs8PEMRepresentation + "\n"
        }
    }

    /// The public half.
    public var publicKey: PeerPublicKey {
        switch key {
        case .p256(let key): PeerPublicKey(backing: .p256(key.publicKey))
        case .p384(let key): PeerPublicKey(backing: .p384(key.publicKey))
        case .p521(let key): PeerPublicKey(backing: .p521(key.publicKey))
        case .rsa(let key): PeerPublicKey(backing: .rsa(key.publicKey))
        }
    }

    var certificateKey: Certificate.PrivateKey {
        switch key {
        case .p256(let key): Certificate.PrivateKey(key)
        case .p384(let key): Certificate.PrivateKey(key)
        case .p521(let key): Certificate.PrivateKey(key)
        case .rsa(let key): Certificate.PrivateKey(key)
        }
    }

    /// The algorithm certificates signed by this key carry.
    var certificateSignatureAlgorithm: Certificate.SignatureAlgorithm {
        switch key {
        case .p256: .ecdsaWithSHA256
        case .p384: .ecdsaWithSHA384
        case .p521: .ecdsaWithSHA512
        case .rsa: .sha256WithRSAEncryption
        }
    }
}

/// What a certificate may be used for.
public struct CertificateProfile: Sendable, Hashable {
    /// basicConstraints CA (with keyCertSign and cRLSign) and its path length constraint.
    public var isCertificateAuthority: Bool
    /// The pathLenConstraint of a CA, nil for none.
    public var pathLength: Int?
    /// keyUsage digitalSignature (what IKE AUTH needs of a leaf).
    public var digitalSignature: Bool
    /// Extended key usages as dotted OIDs.
    public var extendedKeyUsages: [String]

    public init(isCertificateAuthority: Bool, pathLength: Int?, digitalSignature: Bool, extendedKeyUsages: [String]) {
        self.isCertificateAuthority = isCertificateAuthority
        self.pathLength = pathLength
        self.digitalSignature = digitalSignature
        self.extendedKeyUsages = extendedKeyUsages
    }

    /// id-kp-serverAuth.
    public static let serverAuthOID = "1.3.6.1.5.5.7.3.1"
    /// id-kp-clientAuth.
    public static let clientAuthOID = "1.3.6.1.5.5.7.3.2"
    /// iKEIntermediate (RFC 4945 5.1.3.12).
    public static let ikeIntermediateOID = "1.3.6.1.5.5.8.2.2"

    /// A root or intermediate CA.
    public static func certificateAuthority(pathLength: Int? = nil) -> CertificateProfile {
        CertificateProfile(
            isCertificateAuthority: true, pathLength: pathLength, digitalSignature: true, extendedKeyUsages: [])
    }

    /// A remote-access client: digitalSignature, EKU clientAuth.
    public static let client = CertificateProfile(
        isCertificateAuthority: false, pathLength: nil, digitalSignature: true, extendedKeyUsages: [clientAuthOID])

    /// The gateway: digitalSignature, EKU serverAuth and IKE intermediate (what Windows and macOS demand).
    public static let server = CertificateProfile(
        isCertificateAuthority: false, pathLength: nil, digitalSignature: true,
        extendedKeyUsages: [serverAuthOID, ikeIntermediateOID])
}

/// Issues X.509 v3 certificates (RFC 5280) with swift-certificates: the CLI's root CA and its certificates.
public enum CertificateIssuer {
    /// 16 random bytes with the top bit clear (a positive INTEGER of at most 128 bits, RFC 5280 4.1.2.2).
    public static func randomSerial() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[0] = (bytes[0] & 0x7f) | 0x01
        return bytes
    }

    /// A self-signed CA certificate; `subject` is a DN in strongSwan's notation or a plain name (its CN).
    public static func selfSigned(
        subject: String, key: SigningKey, notBefore: Date, notAfter: Date, serial: [UInt8],
        profile: CertificateProfile = .certificateAuthority()
    ) throws(CertificateFailure) -> [UInt8] {
        let name = try distinguishedName(subject)
        return try make(
            subject: name, subjectAltNames: [], publicKey: key.publicKey.certificateKey, issuer: name,
            issuerKey: key, authorityKeyID: nil, notBefore: notBefore, notAfter: notAfter, serial: serial,
            profile: profile)
    }

    /// A certificate for `publicKey` signed by the CA of `issuerCertificateDER` / `issuerKey`.
    public static func issue(
        subject: String, subjectAltNames: [SubjectAltName], publicKey: PeerPublicKey, profile: CertificateProfile,
        notBefore: Date, notAfter: Date, serial: [UInt8], issuerCertificateDER: [UInt8], issuerKey: SigningKey
    ) throws(CertificateFailure) -> [UInt8] {
        let issuer = try CertificateDetails(der: issuerCertificateDER)
        guard issuer.certificate.publicKey == issuerKey.publicKey.certificateKey else { throw .keyMismatch }
        let authorityKeyID = try? issuer.certificate.extensions.subjectKeyIdentifier?.keyIdentifier
        return try make(
            subject: try distinguishedName(subject), subjectAltNames: subjectAltNames,
            publicKey: publicKey.certificateKey, issuer: issuer.certificate.subject, issuerKey: issuerKey,
            authorityKeyID: authorityKeyID ?? nil, notBefore: notBefore, notAfter: notAfter, serial: serial,
            profile: profile)
    }

    /// "CN=x, O=y" as it is, a plain name as CN=name.
    static func distinguishedName(_ text: String) throws(CertificateFailure) -> DistinguishedName {
        let dnText = text.contains("=") ? text : "CN=" + text.replacingOccurrences(of: ",", with: "\\,")
        let der = try DistinguishedNameText.der(fromText: dnText)
        do {
            return try DistinguishedName(derEncoded: DER.parse(der))
        } catch {
            throw .malformed("the distinguished name '\(text)' does not decode")
        }
    }

    static func make(
        subject: DistinguishedName, subjectAltNames: [SubjectAltName], publicKey: Certificate.PublicKey,
        issuer: DistinguishedName, issuerKey: SigningKey, authorityKeyID: ArraySlice<UInt8>?, notBefore: Date,
        notAfter: Date, serial: [UInt8], profile: CertificateProfile
    ) throws(CertificateFailure) -> [UInt8] {
        do {
            var extensions = Certificate.Extensions()
            if profile.isCertificateAuthority {
                try extensions.append(
                    Certificate.Extension(
                        BasicConstraints.isCertificateAuthority(maxPathLength: profile.pathLength), critical: true))
                try extensions.append(
                    Certificate.Extension(
                        KeyUsage(digitalSignature: profile.digitalSignature, keyCertSign: true, cRLSign: true),
                        critical: true))
            } else {
                try extensions.append(Certificate.Extension(BasicConstraints.notCertificateAuthority, critical: true))
                // keyEncipherment only for RSA: RFC 5480 3 allows no such use of an EC key (an EC key that may not
                // sign gets keyAgreement, so the extension is never empty).
                let isRSA = RSAKeyCheck.isRSA(publicKey)
                try extensions.append(
                    Certificate.Extension(
                        KeyUsage(
                            digitalSignature: profile.digitalSignature, keyEncipherment: isRSA,
                            keyAgreement: !isRSA && !profile.digitalSignature), critical: true))
            }
            if !profile.extendedKeyUsages.isEmpty {
                let usages = try profile.extendedKeyUsages.map {
                    ExtendedKeyUsage.Usage(oid: try ASN1ObjectIdentifier(dotRepresentation: $0))
                }
                try extensions.append(Certificate.Extension(try ExtendedKeyUsage(usages), critical: false))
            }
            if !subjectAltNames.isEmpty {
                try extensions.append(
                    Certificate.Extension(SubjectAlternativeNames(subjectAltNames.map(\.generalName)), critical: false))
            }
            try extensions.append(Certificate.Extension(SubjectKeyIdentifier(hash: publicKey), critical: false))
            if let authorityKeyID {
                try extensions.append(
                    Certificate.Extension(AuthorityKeyIdentifier(keyIdentifier: authorityKeyID), critical: false))
            }
            let certificate = try Certificate(
                version: .v3, serialNumber: .init(bytes: serial), publicKey: publicKey, notValidBefore: notBefore,
                notValidAfter: notAfter, issuer: issuer, subject: subject,
                signatureAlgorithm: issuerKey.certificateSignatureAlgorithm, extensions: extensions,
                issuerPrivateKey: issuerKey.certificateKey)
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            return serializer.serializedBytes
        } catch let failure as CertificateFailure {
            throw failure
        } catch {
            throw .malformed("the certificate cannot be built (\(error))")
        }
    }
}

enum RSAKeyCheck {
    static func isRSA(_ key: Certificate.PublicKey) -> Bool { _RSA.Signing.PublicKey(key) != nil }
}
