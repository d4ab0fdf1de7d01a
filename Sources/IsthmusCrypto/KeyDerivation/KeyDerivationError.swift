/// An error from IKE key derivation.
///
/// Equality compares ``code`` only; ``reason`` is a diagnostic that never contains key material.
public struct KeyDerivationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as an extensible set of named codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case outputTooLong
            case invalidParameter
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// More keying material was requested than the construction yields (prf+ stops after 255
        /// blocks, RFC 7296 section 2.13).
        public static let outputTooLong = Code(.outputTooLong)
        /// A length or input is out of range (negative length, zero block size, IV longer than the hash).
        public static let invalidParameter = Code(.invalidParameter)

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

    public static func == (lhs: KeyDerivationError, rhs: KeyDerivationError) -> Bool {
        lhs.code == rhs.code
    }

    public var description: String { "KeyDerivationError.\(code): \(reason)" }

    @inline(never)
    static func tooLong(_ what: String) -> KeyDerivationError {
        KeyDerivationError(.outputTooLong, what)
    }

    @inline(never)
    static func parameter(_ what: String) -> KeyDerivationError {
        KeyDerivationError(.invalidParameter, what)
    }
}
