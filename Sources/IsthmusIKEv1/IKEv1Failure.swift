import IsthmusWire

/// Why an IKEv1 message could not be processed. Peer input never traps: every problem becomes one of
/// these, the message is dropped and counted, and the SA's state is left as it was.
enum IKEv1Failure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The message does not parse, or a payload has the wrong size or value.
    case malformed(String)
    /// Cleartext where the exchange requires encryption.
    case notEncrypted
    /// The body did not decrypt to a valid payload chain: with a PSK, the keys differ.
    case undecryptable(String)
    /// A required payload is missing.
    case missingPayload(String)
    /// A HASH (or HASH_I/HASH_R) does not verify.
    case hashMismatch(String)
    /// The peer's identity is not the configured one.
    case unexpectedIdentity(String)
    /// A negotiated suite the crypto layer cannot build.
    case unusableSuite(String)

    var description: String {
        switch self {
        case .malformed(let what): "malformed: \(what)"
        case .notEncrypted: "not encrypted"
        case .undecryptable(let what): "does not decrypt (\(what))"
        case .missingPayload(let what): "no \(what) payload"
        case .hashMismatch(let what): "\(what) does not verify"
        case .unexpectedIdentity(let what): "unexpected identity \(what)"
        case .unusableSuite(let what): "unusable suite: \(what)"
        }
    }

    /// The notification an error answer would carry (RFC 2408 section 3.14.1).
    var notifyType: ISAKMPNotifyType {
        switch self {
        case .malformed, .notEncrypted, .undecryptable, .missingPayload: .payloadMalformed
        case .hashMismatch: .invalidHashInformation
        case .unexpectedIdentity: .invalidIDInformation
        case .unusableSuite: .noProposalChosen
        }
    }
}
