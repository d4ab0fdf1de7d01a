/// An IKEv2 exchange type (RFC 7296 section 3.1, IANA "IKEv2 Exchange Types").
public struct IKEv2ExchangeType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// IKE_SA_INIT (34), RFC 7296 section 1.2.
    public static let ikeSAInit = IKEv2ExchangeType(rawValue: 34)
    /// IKE_AUTH (35), RFC 7296 section 1.2.
    public static let ikeAuth = IKEv2ExchangeType(rawValue: 35)
    /// CREATE_CHILD_SA (36), RFC 7296 section 1.3.
    public static let createChildSA = IKEv2ExchangeType(rawValue: 36)
    /// INFORMATIONAL (37), RFC 7296 section 1.4.
    public static let informational = IKEv2ExchangeType(rawValue: 37)
}
