/// An error from key exchange, key derivation or an encryption, integrity or PRF transform.
///
/// Modelled on swift-nio-ssh's `NIOSSHError` and swift-asn1's `ASN1Error`: ``code`` identifies the kind of
/// error and is what callers compare; it is extensible (new codes may be added without breaking callers).
/// The diagnostic (a reason, and the file and line that threw) is private: it is only printed, for logs.
/// Equality and hashing compare ``code`` only. No diagnostic ever contains key material.
///
/// Proposal-string errors are not of this kind: see ``ProposalError``, whose cases carry the data the
/// configuration checker needs (the offending keyword, the algorithm) and whose description is the message
/// shown to the user.
public struct IsthmusCryptoError: Error, Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The kind of this error; compare this.
    public let code: Code

    private let area: Area
    private let reason: String
    private let file: StaticString
    private let line: UInt

    private init(_ code: Code, _ area: Area, _ reason: String, file: StaticString, line: UInt) {
        self.code = code
        self.area = area
        self.reason = reason
        self.file = file
        self.line = line
    }

    public static func == (lhs: IsthmusCryptoError, rhs: IsthmusCryptoError) -> Bool {
        lhs.code == rhs.code
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
    }

    /// The text logged for this error, e.g. `KeyExchangeError.invalidPeerPublicValue: group 19 KE data is not a
    /// valid public key`. The prefix names the part of the module that threw, as logs always have.
    public var description: String { "\(area.rawValue).\(code): \(reason)" }

    /// ``description`` and where the error was thrown.
    public var debugDescription: String { "\(description) (\(file):\(line))" }

    /// The part of the module that threw: the first word of ``description``.
    private enum Area: String, Sendable {
        case keyExchange = "KeyExchangeError"
        case keyDerivation = "KeyDerivationError"
        case suite = "CryptoSuiteError"
    }
}

extension IsthmusCryptoError {
    /// What went wrong, as an extensible set of named codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case unsupportedGroup
            case invalidPeerPublicValue
            case invalidPrivateKey
            case invalidSharedSecret
            case outputTooLong
            case invalidParameter
            case unsupportedTransform
            case invalidKeyLength
            case invalidKeySize
            case invalidPacketLayout
            case authenticationFailure
            case backendFailure
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        // Key exchange

        /// The Diffie-Hellman group number is not implemented.
        public static let unsupportedGroup = Code(.unsupportedGroup)
        /// The peer's KE value has the wrong length, is out of range (MODP, RFC 6989 section 2.1) or
        /// is not a point on the curve (ECP, RFC 5903 section 7).
        public static let invalidPeerPublicValue = Code(.invalidPeerPublicValue)
        /// A supplied or generated private key is not valid for the group.
        public static let invalidPrivateKey = Code(.invalidPrivateKey)
        /// The computed shared secret is degenerate (all-zero X25519 output, RFC 8031 section 2.3).
        public static let invalidSharedSecret = Code(.invalidSharedSecret)

        // Key derivation

        /// More keying material was requested than the construction yields (prf+ stops after 255
        /// blocks, RFC 7296 section 2.13).
        public static let outputTooLong = Code(.outputTooLong)
        /// A length or input is out of range (negative length, zero block size, IV longer than the hash).
        public static let invalidParameter = Code(.invalidParameter)

        // Transforms

        /// The transform ID (or key length attribute for it) is not implemented.
        public static let unsupportedTransform = Code(.unsupportedTransform)
        /// The key length attribute (in bits) is not allowed for the transform.
        public static let invalidKeyLength = Code(.invalidKeyLength)
        /// The key material handed over does not have the size the transform needs.
        public static let invalidKeySize = Code(.invalidKeySize)
        /// The packet buffer is too short, the payload is not a whole number of blocks, or an IV
        /// or associated data has the wrong length.
        public static let invalidPacketLayout = Code(.invalidPacketLayout)
        /// The ICV or AEAD tag did not verify. Nothing was decrypted, or the plaintext was wiped.
        public static let authenticationFailure = Code(.authenticationFailure)

        // Any

        /// The cryptographic library reported an unexpected failure.
        public static let backendFailure = Code(.backendFailure)

        public var description: String { String(describing: base) }
    }
}

// MARK: - Constructors (cold paths: never inlined)

extension IsthmusCryptoError {
    @inline(never)
    public static func unsupportedGroup(_ group: UInt16, file: StaticString = #fileID, line: UInt = #line) -> Self {
        Self(.unsupportedGroup, .keyExchange, "Diffie-Hellman group \(group)", file: file, line: line)
    }

    @inline(never)
    public static func invalidPeerPublicValue(_ what: String, file: StaticString = #fileID, line: UInt = #line)
        -> Self
    {
        Self(.invalidPeerPublicValue, .keyExchange, what, file: file, line: line)
    }

    @inline(never)
    public static func invalidPrivateKey(_ what: String, file: StaticString = #fileID, line: UInt = #line) -> Self {
        Self(.invalidPrivateKey, .keyExchange, what, file: file, line: line)
    }

    @inline(never)
    public static func invalidSharedSecret(_ what: String, file: StaticString = #fileID, line: UInt = #line) -> Self {
        Self(.invalidSharedSecret, .keyExchange, what, file: file, line: line)
    }

    /// A ``Code/backendFailure`` of the key exchange (``backendFailure(_:file:line:)`` is a transform's).
    @inline(never)
    public static func keyExchangeBackendFailure(_ what: String, file: StaticString = #fileID, line: UInt = #line)
        -> Self
    {
        Self(.backendFailure, .keyExchange, what, file: file, line: line)
    }

    @inline(never)
    public static func outputTooLong(_ what: String, file: StaticString = #fileID, line: UInt = #line) -> Self {
        Self(.outputTooLong, .keyDerivation, what, file: file, line: line)
    }

    @inline(never)
    public static func invalidParameter(_ what: String, file: StaticString = #fileID, line: UInt = #line) -> Self {
        Self(.invalidParameter, .keyDerivation, what, file: file, line: line)
    }

    @inline(never)
    public static func unsupportedTransform(_ what: String, file: StaticString = #fileID, line: UInt = #line) -> Self {
        Self(.unsupportedTransform, .suite, what, file: file, line: line)
    }

    @inline(never)
    public static func invalidKeyLength(_ what: String, file: StaticString = #fileID, line: UInt = #line) -> Self {
        Self(.invalidKeyLength, .suite, what, file: file, line: line)
    }

    @inline(never)
    public static func invalidKeySize(expected: Int, got: Int, file: StaticString = #fileID, line: UInt = #line)
        -> Self
    {
        Self(.invalidKeySize, .suite, "expected \(expected) bytes of key material, got \(got)", file: file, line: line)
    }

    @inline(never)
    public static func invalidPacketLayout(_ what: String, file: StaticString = #fileID, line: UInt = #line) -> Self {
        Self(.invalidPacketLayout, .suite, what, file: file, line: line)
    }

    @inline(never)
    public static func authenticationFailure(file: StaticString = #fileID, line: UInt = #line) -> Self {
        Self(.authenticationFailure, .suite, "integrity check value did not verify", file: file, line: line)
    }

    /// A ``Code/backendFailure`` of a transform.
    @inline(never)
    public static func backendFailure(_ what: String, file: StaticString = #fileID, line: UInt = #line) -> Self {
        Self(.backendFailure, .suite, what, file: file, line: line)
    }
}
