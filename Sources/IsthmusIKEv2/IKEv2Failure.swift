import IsthmusPKI
import IsthmusWire

/// Why an IKEv2 message could not be processed. Each case maps to what we log and, where the
/// protocol has one, to the notification we send back.
enum IKEv2Failure: Error, Sendable, Equatable {
    /// The message has no SK payload where one is required.
    case missingEncryptedPayload
    /// The SK payload decrypted but its padding or layout is wrong.
    case malformedEncryptedPayload
    /// A payload required in this message is missing (RFC 7296: INVALID_SYNTAX).
    case missingPayload(String)
    /// The peer's AUTH did not verify: with PSK almost always a shared key mismatch.
    case authenticationFailed
    /// The peer's identity is not the one configured.
    case unexpectedIdentity(String)
    /// The peer's certificate did not verify against our roots: unknown CA, revoked, expired, not yet valid,
    /// a bad signature in the chain, a key usage that forbids signing, a chain too long or malformed.
    case certificateRejected(CertificateFailure)
    /// The peer sent no usable certificate (none, only Hash and URL, which is never fetched, or too many).
    case certificateMissing(String)
    /// The peer's AUTH signature does not verify with its certificate's key (or uses a method we refuse).
    case badSignature(String)
    /// The peer's IDi/IDr is neither its certificate's subject nor one of its subject alternative names.
    case identityNotInCertificate(String)

    /// The notification an IKEv2 responder answers with (RFC 7296 section 3.10.1).
    var notifyType: IKEv2NotifyType {
        switch self {
        case .missingEncryptedPayload, .malformedEncryptedPayload, .missingPayload: .invalidSyntax
        case .authenticationFailed, .unexpectedIdentity, .certificateRejected, .certificateMissing, .badSignature,
            .identityNotInCertificate:
            .authenticationFailed
        }
    }
}
