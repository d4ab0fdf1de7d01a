/// An IPsec DOI protocol identifier (RFC 2407 section 4.4.1).
public struct ISAKMPProtocolID: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// PROTO_ISAKMP (1): Phase 1.
    public static let isakmp = ISAKMPProtocolID(rawValue: 1)
    /// PROTO_IPSEC_AH (2).
    public static let ah = ISAKMPProtocolID(rawValue: 2)
    /// PROTO_IPSEC_ESP (3).
    public static let esp = ISAKMPProtocolID(rawValue: 3)
    /// PROTO_IPCOMP (4).
    public static let ipcomp = ISAKMPProtocolID(rawValue: 4)

    /// The IPsec Domain of Interpretation value (RFC 2407 section 4.2).
    public static let ipsecDOI: UInt32 = 1
}

extension ISAKMPProtocolID: OctetCode {}
