/// An error from a Diffie-Hellman key exchange.
///
/// Equality compares ``code`` only; ``reason`` is a diagnostic that never contains secrets.
public struct KeyExchangeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as an extensible set of named codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case unsupportedGroup
            case invalidPeerPublicValue
            case invalidPrivateKey
            case invalidSharedSecret
            case backendFailure
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The Diffie-Hellman group number is not implemented.
        public static let unsupportedGroup = Code(.unsupportedGroup)
        /// The peer's KE value has the wrong length, is out of range (MODP, RFC 6989 section 2.1) or
        /// is not a point on the curve (ECP, RFC 5903 section 7).
        public static let invalidPeerPublicValue = Code(.invalidPeerPublicValue)
        /// A supplied or generated private key is not valid for the group.
        public static let invalidPrivateKey = Code(.invalidPrivateKey)
        /// The computed shared secret is degenerate (all-zero X25519 output, RFC 8031 section 2.3).
        public static let invalidSharedSecret = Code(.invalidSharedSecret)
        /// The cryptographic library reported an unexpected failure.
        public static let backendFailure = Code(.backendFailure)

        public var description: String { String(describing: base) }
    }

    /// The kind of error; compare this.
    public let code: Code
    /// A diagnostic for logs.
    public let reason: String

    /// Creates an error.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public static func == (lhs: KeyExchangeError, rhs: KeyExchangeError) -> Bool {
        lhs.code == rhs.code
    }

    public var description: String { "KeyExchangeError.\(code): \(reason)" }

    @inline(never)
    static func unsupported(_ group: UInt16) -> KeyExchangeError {
        KeyExchangeError(.unsupportedGroup, "Diffie-Hellman group \(group)")
    }

    @inline(never)
    static func peer(_ what: String) -> KeyExchangeError {
        KeyExchangeError(.invalidPeerPublicValue, what)
    }

    @inline(never)
    static func privateKey(_ what: String) -> KeyExchangeError {
        KeyExchangeError(.invalidPrivateKey, what)
    }

    @inline(never)
    static func backend(_ what: String) -> KeyExchangeError {
        KeyExchangeError(.backendFailure, what)
    }
}
