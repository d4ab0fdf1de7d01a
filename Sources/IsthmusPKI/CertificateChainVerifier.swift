import Foundation
import X509

/// A certificate that chains to a trusted root, valid at the time asked, not revoked.
public struct VerifiedCertificate: Sendable {
    /// The subject DN's DER.
    public let subjectDER: [UInt8]
    /// The subject as strongSwan prints it.
    public let subjectText: String
    /// DNS, email and IP subject alternative names.
    public let subjectAltNames: [SubjectAltName]
    /// The serial in lowercase hex without leading zero bytes.
    public let serialHex: String
    /// SHA-256 of the DER, lowercase hex.
    public let sha256Thumbprint: String
    /// The issuer as strongSwan prints it.
    public let issuerText: String
    /// End of the validity period.
    public let notAfter: Date
    /// The key the peer's AUTH payload must verify with.
    public let publicKey: PeerPublicKey
    /// How many certificates the chain had, the leaf and the root included.
    public let chainLength: Int
}

/// Checks a peer's certificate against the configured roots (RFC 5280 6.1, the parts IKE gateways use):
/// a path to a root by names and signatures, validity at the given time, basic constraints and key usage of
/// the issuers, digitalSignature on the leaf when it has a key usage, and the revocation list for every
/// certificate of the path. Pure: the time is a parameter; bad bytes are `.malformed`, never a crash.
public struct CertificateChainVerifier: Sendable {
    let roots: [CertificateDetails]
    let revoked: RevocationList
    let maximumChainLength: Int

    /// The intermediates a peer may offer at most, used in the path or not (a bound on the work per message).
    public static let maximumOfferedIntermediates = 16

    /// `trustRootsDER` that do not parse are left out (the configuration loader reports them);
    /// `maximumChainLength` counts the leaf and the root.
    public init(trustRootsDER: [[UInt8]], revoked: RevocationList, maximumChainLength: Int = 4) {
        roots = trustRootsDER.compactMap { try? CertificateDetails(der: $0) }
        self.revoked = revoked
        self.maximumChainLength = max(1, maximumChainLength)
    }

    /// The number of trust roots that parsed.
    public var rootCount: Int { roots.count }

    /// The trust roots that parsed, as DER.
    public var trustRootsDER: [[UInt8]] { roots.map(\.der) }

    /// SHA-1 of each trust root's SubjectPublicKeyInfo DER (20 bytes each), the CERTREQ Certification Authority
    /// values of RFC 7296 3.7 as strongSwan computes its key identifiers.
    public var trustRootKeyHashes: [[UInt8]] { roots.map(\.subjectPublicKeyInfoSHA1) }

    /// Verifies `leafDER` with the intermediates the peer sent (any order, unrelated ones ignored) at `time`.
    public func verify(leafDER: [UInt8], intermediatesDER: [[UInt8]], at time: Date)
        -> Result<VerifiedCertificate, CertificateFailure>
    {
        Result { () throws(CertificateFailure) in try verifyThrowing(leafDER, intermediatesDER, time) }
    }

    private func verifyThrowing(_ leafDER: [UInt8], _ intermediatesDER: [[UInt8]], _ time: Date)
        throws(CertificateFailure) -> VerifiedCertificate
    {
        guard intermediatesDER.count <= Self.maximumOfferedIntermediates else {
            throw .chainTooLong(intermediatesDER.count + 1)
        }
        let leaf = try CertificateDetails(der: leafDER)
        var offered: [CertificateDetails] = []
        for der in intermediatesDER where der != leafDER {
            offered.append(try CertificateDetails(der: der))
        }
        let path = try buildPath(leaf: leaf, offered: offered)
        for certificate in path {
            if time < certificate.notBefore { throw .notYetValid(certificate.subjectText) }
            if time > certificate.notAfter { throw .expired(certificate.subjectText) }
            if revoked.contains(certificate) { throw .revoked(certificate.subjectText) }
        }
        try checkConstraints(path)
        let publicKey = try leaf.publicKey.get()
        return VerifiedCertificate(
            subjectDER: leaf.subjectDER, subjectText: leaf.subjectText, subjectAltNames: leaf.subjectAltNames,
            serialHex: leaf.serialHex, sha256Thumbprint: leaf.sha256Thumbprint, issuerText: leaf.issuerText,
            notAfter: leaf.notAfter, publicKey: publicKey, chainLength: path.count)
    }

    /// Leaf first, trusted root last. A leaf that is itself a trusted root is a path of one.
    private func buildPath(leaf: CertificateDetails, offered: [CertificateDetails]) throws(CertificateFailure)
        -> [CertificateDetails]
    {
        if roots.contains(where: { $0.der == leaf.der }) { return [leaf] }
        var path = [leaf]
        var current = leaf
        while true {
            let issuerName = current.certificate.issuer
            var sawNameMatch = false
            if let root = roots.first(where: { Self.sameName($0.certificate.subject, issuerName) && signs($0, current) }
            ) {
                path.append(root)
                guard path.count <= maximumChainLength else { throw .chainTooLong(path.count) }
                return path
            }
            sawNameMatch = roots.contains { Self.sameName($0.certificate.subject, issuerName) }
            let candidates = offered.filter { candidate in
                Self.sameName(candidate.certificate.subject, issuerName)
                    && !path.contains(where: { $0.der == candidate.der })
            }
            guard let next = candidates.first(where: { signs($0, current) }) else {
                if sawNameMatch || !candidates.isEmpty { throw .badSignature(current.subjectText) }
                throw .unknownIssuer(current.subjectText)
            }
            path.append(next)
            // The root still has to come: a path at the limit without it is already too long.
            guard path.count < maximumChainLength else { throw .chainTooLong(path.count + 1) }
            current = next
        }
    }

    /// RFC 5280 7.1 in short: the same attributes in the same order, string values equal ignoring case (an
    /// issuer written as UTF8String matches a root's PrintableString subject).
    static func sameName(_ first: DistinguishedName, _ second: DistinguishedName) -> Bool {
        if first == second { return true }
        let lhs = first.flatMap { Array($0) }
        let rhs = second.flatMap { Array($0) }
        guard lhs.count == rhs.count else { return false }
        return zip(lhs, rhs).allSatisfy { left, right in
            guard left.type == right.type, let one = String(left.value), let other = String(right.value) else {
                return false
            }
            return one.lowercased() == other.lowercased()
        }
    }

    private func signs(_ issuer: CertificateDetails, _ subject: CertificateDetails) -> Bool {
        issuer.certificate.publicKey.isValidSignature(subject.certificate.signature, for: subject.certificate)
    }

    /// basicConstraints and keyUsage of every issuer; keyUsage of the leaf.
    private func checkConstraints(_ path: [CertificateDetails]) throws(CertificateFailure) {
        do {
            if let usage = try path[0].certificate.extensions.keyUsage, path.count > 1, !usage.digitalSignature {
                throw CertificateFailure.keyUsage("'\(path[0].subjectText)' may not sign (no digitalSignature)")
            }
            for (index, issuer) in path.enumerated().dropFirst() {
                let belowCAs = index - 1  // intermediates between this issuer and the leaf
                switch try issuer.certificate.extensions.basicConstraints {
                case .isCertificateAuthority(let maxPathLength):
                    if let maxPathLength, belowCAs > maxPathLength {
                        throw CertificateFailure.keyUsage(
                            "'\(issuer.subjectText)' allows \(maxPathLength) intermediates below it, not \(belowCAs)"
                        )
                    }
                case .notCertificateAuthority:
                    throw CertificateFailure.keyUsage("'\(issuer.subjectText)' is not a certificate authority")
                case nil:
                    // X.509 v1 roots have no extensions; an intermediate must say it is a CA.
                    if index < path.count - 1 || issuer.certificate.version != .v1 {
                        throw CertificateFailure.keyUsage(
                            "'\(issuer.subjectText)' is not a certificate authority (no basicConstraints)")
                    }
                }
                if let usage = try issuer.certificate.extensions.keyUsage, !usage.keyCertSign {
                    throw CertificateFailure.keyUsage("'\(issuer.subjectText)' may not sign certificates")
                }
            }
        } catch let failure as CertificateFailure {
            throw failure
        } catch {
            throw .malformed("an extension of the certificate '\(path[0].subjectText)' does not decode (\(error))")
        }
    }
}
