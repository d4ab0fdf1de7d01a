/// Why a certificate, a chain or a credential was refused; each description is one sentence naming the
/// certificate's subject, fit for a log line and an event.
public enum CertificateFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes are not a certificate, key or PEM document Isthmus can read.
    case malformed(String)
    /// No configured certificate authority issued the certificate (the subject is attached).
    case unknownIssuer(String)
    /// The certificate's validity ended before the time of the check.
    case expired(String)
    /// The certificate's validity starts after the time of the check.
    case notYetValid(String)
    /// The certificate (or one above it) is on the configured revocation list.
    case revoked(String)
    /// A signature in the chain does not verify.
    case badSignature(String)
    /// A key usage or basic constraint forbids what the certificate is used for.
    case keyUsage(String)
    /// More certificates than allowed between the leaf and its root (the count is attached).
    case chainTooLong(Int)
    /// A key type or size Isthmus does not sign or verify with.
    case unsupportedKey(String)
    /// The private key does not belong to the certificate.
    case keyMismatch

    public var description: String {
        switch self {
        case .malformed(let detail): "The certificate data is malformed: \(detail)."
        case .unknownIssuer(let subject):
            "The certificate '\(subject)' was not issued by a configured certificate authority."
        case .expired(let subject): "The certificate '\(subject)' has expired."
        case .notYetValid(let subject): "The certificate '\(subject)' is not valid yet."
        case .revoked(let subject): "The certificate '\(subject)' is revoked."
        case .badSignature(let subject): "The signature on the certificate '\(subject)' does not verify."
        case .keyUsage(let detail): "The certificate \(detail)."
        case .chainTooLong(let count):
            "The certificate chain has \(count) certificates, more than allowed."
        case .unsupportedKey(let detail): "The key is not supported: \(detail)."
        case .keyMismatch: "The private key does not belong to the certificate."
        }
    }
}
