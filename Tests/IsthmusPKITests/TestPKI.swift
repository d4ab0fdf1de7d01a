import Foundation
import IsthmusPKI

/// A root, an intermediate and leaves made in-process with ``CertificateIssuer``, for chain tests.
struct TestPKI {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15
    static let end = start.addingTimeInterval(365 * 86_400)
    static let during = start.addingTimeInterval(86_400)

    let rootKey: SigningKey
    let rootDER: [UInt8]

    init(kind: KeyKind = .ecdsaP256, name: String = "C=CH, O=Isthmus, CN=Test Root CA") throws {
        rootKey = try SigningKey(kind: kind)
        rootDER = try CertificateIssuer.selfSigned(
            subject: name, key: rootKey, notBefore: Self.start, notAfter: Self.end.addingTimeInterval(86_400 * 365),
            serial: [0x01])
    }

    func intermediate(
        name: String = "C=CH, O=Isthmus, CN=Test Intermediate", pathLength: Int? = nil,
        issuer: (der: [UInt8], key: SigningKey)? = nil
    ) throws -> (der: [UInt8], key: SigningKey) {
        let key = try SigningKey(kind: .ecdsaP256)
        let der = try CertificateIssuer.issue(
            subject: name, subjectAltNames: [], publicKey: key.publicKey,
            profile: .certificateAuthority(pathLength: pathLength), notBefore: Self.start, notAfter: Self.end,
            serial: CertificateIssuer.randomSerial(), issuerCertificateDER: issuer?.der ?? rootDER,
            issuerKey: issuer?.key ?? rootKey)
        return (der, key)
    }

    func leaf(
        name: String = "C=CH, O=Isthmus, CN=alice", names: [SubjectAltName] = [.email("alice@example.com")],
        profile: CertificateProfile = .client, kind: KeyKind = .ecdsaP256, notBefore: Date = start,
        notAfter: Date = end, serial: [UInt8] = CertificateIssuer.randomSerial(),
        issuer: (der: [UInt8], key: SigningKey)? = nil
    ) throws -> (der: [UInt8], key: SigningKey) {
        let key = try SigningKey(kind: kind)
        let der = try CertificateIssuer.issue(
            subject: name, subjectAltNames: names, publicKey: key.publicKey, profile: profile,
            notBefore: notBefore, notAfter: notAfter, serial: serial, issuerCertificateDER: issuer?.der ?? rootDER,
            issuerKey: issuer?.key ?? rootKey)
        return (der, key)
    }

    func credential(_ leaf: (der: [UInt8], key: SigningKey)) throws -> LocalCredential {
        try LocalCredential(
            certificatePEM: PEM.encode(leaf.der, label: "CERTIFICATE"), privateKeyPEM: leaf.key.pemRepresentation)
    }
}
