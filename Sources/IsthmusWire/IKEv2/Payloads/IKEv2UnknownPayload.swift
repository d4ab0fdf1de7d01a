/// A payload of a type this codec does not know, kept raw so the message round-trips.
///
/// Only non-critical unknown payloads are kept; a critical one fails the parse with
/// ``WireError/Code/unsupportedCriticalPayload`` (RFC 7296 section 2.5).
public struct IKEv2UnknownPayload: Hashable, Sendable {
    public var payloadType: IKEv2PayloadType
    /// The critical bit as received (always false after a successful parse).
    public var isCritical: Bool
    /// The payload body after the generic header.
    public var body: [UInt8]

    public init(payloadType: IKEv2PayloadType, isCritical: Bool = false, body: [UInt8]) {
        self.payloadType = payloadType
        self.isCritical = isCritical
        self.body = body
    }
}
