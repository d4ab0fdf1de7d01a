import Foundation
import IsthmusCrypto
import IsthmusPKI

/// How the two ends of an IKEv2 SA prove who they are in IKE_AUTH (RFC 7296 section 2.15).
public enum IKEv2Authentication: Sendable {
    /// AUTH method 2: a MAC keyed with the connection's pre-shared key (``IKEConnectionSettings/sharedKey``).
    case sharedKey
    /// Signatures (RFC 7296 sections 3.6-3.8, RFC 7427): we send our certificate and its intermediates and sign
    /// with `local`; the peer's certificate must chain to the roots of `peers` at `wallClock()` (injected, so
    /// the core reads no clock: tests pass a fixed date), not be revoked, and certify the identity it claims.
    case certificate(
        local: LocalCredential, peers: CertificateChainVerifier, wallClock: @Sendable () -> Date)

    /// The SHA-1 hashes of the SubjectPublicKeyInfo of `rootsDER` (RFC 7296 section 3.7, the CERTREQ data);
    /// certificates that do not parse are left out (the configuration loader reports them).
    public static func keyHashes(ofRootsDER rootsDER: [[UInt8]]) -> [[UInt8]] {
        guard let sha1 = try? CryptoSuites.make(prfID: CryptoSuites.PRFID.hmacSHA1) else { return [] }
        return rootsDER.compactMap { der in
            guard let details = try? CertificateDetails(der: der), let key = try? details.publicKey.get() else {
                return nil
            }
            return sha1.hash([.bytes(key.subjectPublicKeyInfoDER)])
        }
    }

    /// Whether IKE_AUTH carries certificates and signatures.
    public var usesCertificates: Bool {
        if case .certificate = self { return true }
        return false
    }
}
