/// The transform types a proposal is made of (RFC 7296 section 3.3.2, "Transform Type").
public enum TransformType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case encryption = 1
    case prf = 2
    case integrity = 3
    /// Diffie-Hellman group (renamed "Key Exchange Method" by RFC 9370).
    case keyExchange = 4
    case extendedSequenceNumbers = 5

    public var description: String {
        switch self {
        case .encryption: "encryption"
        case .prf: "PRF"
        case .integrity: "integrity"
        case .keyExchange: "DH group"
        case .extendedSequenceNumbers: "ESN"
        }
    }
}

/// How current guidance rates an algorithm (RFC 8221 for ESP, RFC 8247 for IKEv2).
public enum AlgorithmGuidance: Sendable, Hashable {
    /// Fine to use.
    case current
    /// Still works and some deployed devices need it, but the RFCs say not to use it; `check` warns.
    case legacy(reason: String)
}

/// One algorithm Isthmus implements, with every number it is known by.
///
/// This is the single table behind the wire (IKEv2 transform IDs, IKEv1 attribute values), the
/// crypto layer (which implementation to build), the configuration (strongSwan keywords) and
/// device exports (human names). Values come from the IANA registries "IKEv2 Parameters"
/// (RFC 7296 section 3.3.2), "Internet Key Exchange (IKE) Attributes" (RFC 2409 appendix A) and
/// "Internet Security Association and Key Management Protocol (ISAKMP) Identifiers" (RFC 2407 DOI).
public struct Algorithm: Sendable, Hashable, CustomStringConvertible {
    /// The transform type this algorithm fills.
    public let type: TransformType
    /// The canonical strongSwan keyword (`aes256`, `aes128gcm16`, `sha256`, `prfsha256`, `modp2048`).
    public let keyword: String
    /// Other strongSwan keywords that mean the same (`aes` for `aes128`, `sha` for `sha1`).
    public let aliases: [String]
    /// The name people and device screens use (`AES-256-CBC`, `HMAC-SHA2-256-128`, `DH group 14`).
    public let displayName: String
    /// IKEv2 transform ID within `type` (RFC 7296 section 3.3.2 and its IANA registry).
    public let ikev2ID: UInt16
    /// Key length attribute (type 14) in bits for ciphers with variable key length; nil otherwise.
    public let keyLengthBits: Int?
    /// IKEv1 phase 1 attribute value: Encryption Algorithm (class 1), Hash Algorithm (class 2) or
    /// Group Description (class 4), RFC 2409 appendix A. Nil when IKEv1 phase 1 cannot carry it.
    public let ikev1Phase1Value: UInt16?
    /// IPsec DOI value for phase 2: ESP Transform ID (RFC 2407 section 4.4.4) for ciphers,
    /// Authentication Algorithm attribute (RFC 2407 section 4.5) for integrity, Group Description
    /// for PFS groups. Nil when IKEv1 quick mode cannot carry it.
    public let ikev1Phase2Value: UInt16?
    /// Whether this is a combined-mode (AEAD) cipher that needs no separate integrity transform.
    public let isAEAD: Bool
    /// Integrity check value length in bytes (AEAD and integrity algorithms); 0 otherwise.
    public let icvBytes: Int
    /// What current RFC guidance says.
    public let guidance: AlgorithmGuidance

    public var description: String { keyword }

    /// All keywords that select this algorithm, canonical first.
    public var keywords: [String] { [keyword] + aliases }
}
