/// An error raised while decoding or encoding wire data.
///
/// Errors compare equal on ``code`` only, so tests and callers can match the kind of failure
/// without depending on the offset or the human-readable reason.
public struct WireError: Error, Equatable, Hashable, CustomStringConvertible, Sendable {
    /// The kind of failure. Extensible: new kinds may be added without breaking callers.
    public let code: Code

    /// The absolute byte offset in the input where the failure was detected.
    public let offset: Int

    /// A human-readable explanation, for logs only.
    public let reason: String

    /// For ``Code/unsupportedCriticalPayload`` and ``Code/unsupportedVersion``, the offending
    /// payload type or version byte, so the caller can build the right notification
    /// (RFC 7296 section 3.10.1: UNSUPPORTED_CRITICAL_PAYLOAD carries the payload type).
    public let value: UInt32?

    public init(code: Code, offset: Int, reason: String, value: UInt32? = nil) {
        self.code = code
        self.offset = offset
        self.reason = reason
        self.value = value
    }

    public static func == (lhs: WireError, rhs: WireError) -> Bool {
        lhs.code == rhs.code
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
    }

    public var description: String {
        "WireError.\(self.code) at offset \(self.offset): \(self.reason)"
    }
}

extension WireError {
    /// The kind of a ``WireError``.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: Hashable, Sendable {
            case truncated
            case lengthMismatch
            case trailingData
            case tooManyPayloads
            case limitExceeded
            case unsupportedCriticalPayload
            case unsupportedVersion
            case invalidValue
            case bufferTooSmall
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// The input ended before a field or a length-delimited structure was complete.
        public static let truncated = Code(.truncated)
        /// A length field is inconsistent with its structure or with the enclosing length.
        public static let lengthMismatch = Code(.lengthMismatch)
        /// Bytes remain after a structure that must end the input.
        public static let trailingData = Code(.trailingData)
        /// A payload chain holds more payloads than ``WireLimits/maximumPayloadCount``.
        public static let tooManyPayloads = Code(.tooManyPayloads)
        /// A count (proposals, transforms, attributes, SPIs, selectors) is over its limit.
        public static let limitExceeded = Code(.limitExceeded)
        /// An unknown IKEv2 payload had its critical bit set; ``WireError/value`` is its type
        /// (RFC 7296 section 2.5).
        public static let unsupportedCriticalPayload = Code(.unsupportedCriticalPayload)
        /// The major version is not the one this codec handles; ``WireError/value`` is the
        /// version byte (RFC 7296 section 2.5: answer with INVALID_MAJOR_VERSION).
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// A field holds a value that is not allowed at that place.
        public static let invalidValue = Code(.invalidValue)
        /// An output buffer given by the caller is too small.
        public static let bufferTooSmall = Code(.bufferTooSmall)

        public var description: String {
            "\(self.backing)"
        }
    }
}

extension WireError {
    /// An error of kind `code` detected at `offset`: how the codecs throw.
    @inline(never)
    init(_ code: Code, at offset: Int, _ reason: String, value: UInt32? = nil) {
        self.init(code: code, offset: offset, reason: reason, value: value)
    }
}
