/// An error from building or using an encryption, integrity or PRF transform.
///
/// Equality compares ``code`` only; ``reason`` is a human-readable diagnostic that never contains
/// key material.
public struct CryptoSuiteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as an extensible set of named codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case unsupportedTransform
            case invalidKeyLength
            case invalidKeySize
            case invalidPacketLayout
            case authenticationFailure
            case backendFailure
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

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

    public static func == (lhs: CryptoSuiteError, rhs: CryptoSuiteError) -> Bool {
        lhs.code == rhs.code
    }

    public var description: String { "CryptoSuiteError.\(code): \(reason)" }

    @inline(never)
    static func unsupported(_ what: String) -> CryptoSuiteError {
        CryptoSuiteError(.unsupportedTransform, what)
    }

    @inline(never)
    static func keyLength(_ what: String) -> CryptoSuiteError {
        CryptoSuiteError(.invalidKeyLength, what)
    }

    @inline(never)
    static func keySize(expected: Int, got: Int) -> CryptoSuiteError {
        CryptoSuiteError(.invalidKeySize, "expected \(expected) bytes of key material, got \(got)")
    }

    @inline(never)
    static func layout(_ what: String) -> CryptoSuiteError {
        CryptoSuiteError(.invalidPacketLayout, what)
    }

    @inline(never)
    static func authentication() -> CryptoSuiteError {
        CryptoSuiteError(.authenticationFailure, "integrity check value did not verify")
    }

    @inline(never)
    static func backend(_ what: String) -> CryptoSuiteError {
        CryptoSuiteError(.backendFailure, what)
    }
}
