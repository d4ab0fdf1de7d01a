/// An IKEv2 security protocol identifier, used in proposals, notifications and deletes
/// (RFC 7296 section 3.3.1, IANA "IKEv2 Security Protocol Identifiers").
public struct IKEv2ProtocolID: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// Not applicable (0): a notification not about an SA.
    public static let none = IKEv2ProtocolID(rawValue: 0)
    /// IKE (1).
    public static let ike = IKEv2ProtocolID(rawValue: 1)
    /// AH (2).
    public static let ah = IKEv2ProtocolID(rawValue: 2)
    /// ESP (3).
    public static let esp = IKEv2ProtocolID(rawValue: 3)
}

extension IKEv2ProtocolID: OctetCode {}
