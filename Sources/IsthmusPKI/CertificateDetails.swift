import Crypto
import Foundation
import SwiftASN1
import X509

/// What a certificate says, read once: subject and issuer as text, names, serial, validity, key, thumbprints.
public struct CertificateDetails: Sendable {
    let certificate: Certificate

    /// The certificate's DER.
    public let der: [UInt8]
    /// The subject DN's DER.
    public let subjectDER: [UInt8]
    /// The subject as strongSwan prints it ("C=CH, O=strongSwan, CN=moon").
    public let subjectText: String
    /// The issuer as strongSwan prints it.
    public let issuerText: String
    /// DNS, email and IP subject alternative names.
    public let subjectAltNames: [SubjectAltName]
    /// The serial number in lowercase hex without colons or leading zero bytes ("1a2b").
    public let serialHex: String
    /// SHA-1 of the DER, lowercase hex.
    public let sha1Thumbprint: String
    /// SHA-256 of the DER, lowercase hex.
    public let sha256Thumbprint: String
    /// Start of the validity period.
    public let notBefore: Date
    /// End of the validity period.
    public let notAfter: Date
    /// Whether basicConstraints says CA.
    public let isCertificateAuthority: Bool
    /// The extended key usages, named as openssl names them ("serverAuth", "clientAuth", "ikeIntermediate")
    /// or as dotted OIDs.
    public let extendedKeyUsages: [String]

    /// Parses a DER certificate; bad bytes are `.malformed`, never a crash.
    public init(der: [UInt8]) throws(CertificateFailure) {
        guard !der.isEmpty else { throw .malformed("the certificate is empty") }
        do {
            certificate = try Certificate(derEncoded: der)
        } catch {
            throw .malformed("the certificate does not decode (\(error))")
        }
        self.der = der
        var serializer = DER.Serializer()
        do {
            try serializer.serialize(certificate.subject)
        } catch {
            throw .malformed("the certificate's subject does not encode")
        }
        subjectDER = serializer.serializedBytes
        subjectText = DistinguishedNameText.text(of: certificate.subject)
        issuerText = DistinguishedNameText.text(of: certificate.issuer)
        do {
            subjectAltNames = try SubjectAltName.names(of: certificate)
            isCertificateAuthority =
                if case .isCertificateAuthority = try certificate.extensions.basicConstraints { true } else { false }
            extendedKeyUsages =
                try certificate.extensions.extendedKeyUsage.map { usages in
                    usages.map { Self.name(of: $0) }
                } ?? []
        } catch {
            throw .malformed("an extension of the certificate '\(subjectText)' does not decode (\(error))")
        }
        serialHex = Hex.string(Array(certificate.serialNumber.bytes.drop(while: { $0 == 0 })))
        sha1Thumbprint = Hex.string(Array(Insecure.SHA1.hash(data: der)))
        sha256Thumbprint = Hex.string(Array(SHA256.hash(data: der)))
        notBefore = certificate.notValidBefore
        notAfter = certificate.notValidAfter
    }

    /// Parses the first CERTIFICATE block of a PEM text.
    public init(pem: String) throws(CertificateFailure) {
        guard let der = PEM.blocks(pem, label: "CERTIFICATE").first else {
            throw .malformed("no CERTIFICATE block in the text")
        }
        try self.init(der: der)
    }

    /// SHA-1 of the SubjectPublicKeyInfo DER: what a CERTREQ names a CA by (RFC 7296 3.7), 20 bytes.
    public var subjectPublicKeyInfoSHA1: [UInt8] {
        Array(Insecure.SHA1.hash(data: PeerPublicKey.spkiDER(certificate.publicKey)))
    }

    /// The public key ("ECDSA P-256", "RSA 3072"), or why it cannot be used.
    public var publicKey: Result<PeerPublicKey, CertificateFailure> {
        Result { () throws(CertificateFailure) in try PeerPublicKey(certificate.publicKey, subject: subjectText) }
    }

    /// The IKE intermediate EKU of RFC 4945 5.1.3.12 (Windows and macOS clients want it on the gateway).
    public static let ikeIntermediateOID: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 8, 2, 2]

    static func name(of usage: ExtendedKeyUsage.Usage) -> String {
        switch usage {
        case .serverAuth: "serverAuth"
        case .clientAuth: "clientAuth"
        case .emailProtection: "emailProtection"
        case .codeSigning: "codeSigning"
        case .timeStamping: "timeStamping"
        case .ocspSigning: "OCSPSigning"
        case .any: "anyExtendedKeyUsage"
        case ExtendedKeyUsage.Usage(oid: ikeIntermediateOID): "ikeIntermediate"
        default: usage.description
        }
    }
}

/// Lowercase hex without separators.
enum Hex {
    static func string(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
