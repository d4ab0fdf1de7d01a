/// An ISAKMP payload type, the value of a Next Payload field (RFC 2408 section 3.1,
/// RFC 3947 section 3 for NAT-D and NAT-OA).
public struct ISAKMPPayloadType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    public static let none = ISAKMPPayloadType(rawValue: 0)
    /// Security Association (1), RFC 2408 section 3.4.
    public static let securityAssociation = ISAKMPPayloadType(rawValue: 1)
    /// Proposal (2): only inside an SA payload, RFC 2408 section 3.5.
    public static let proposal = ISAKMPPayloadType(rawValue: 2)
    /// Transform (3): only inside a proposal, RFC 2408 section 3.6.
    public static let transform = ISAKMPPayloadType(rawValue: 3)
    /// Key Exchange (4), RFC 2408 section 3.7.
    public static let keyExchange = ISAKMPPayloadType(rawValue: 4)
    /// Identification (5), RFC 2408 section 3.8, RFC 2407 section 4.6.2.
    public static let identification = ISAKMPPayloadType(rawValue: 5)
    /// Certificate (6), RFC 2408 section 3.9.
    public static let certificate = ISAKMPPayloadType(rawValue: 6)
    /// Certificate Request (7), RFC 2408 section 3.10.
    public static let certificateRequest = ISAKMPPayloadType(rawValue: 7)
    /// Hash (8), RFC 2408 section 3.11.
    public static let hash = ISAKMPPayloadType(rawValue: 8)
    /// Signature (9), RFC 2408 section 3.12.
    public static let signature = ISAKMPPayloadType(rawValue: 9)
    /// Nonce (10), RFC 2408 section 3.13.
    public static let nonce = ISAKMPPayloadType(rawValue: 10)
    /// Notification (11), RFC 2408 section 3.14.
    public static let notification = ISAKMPPayloadType(rawValue: 11)
    /// Delete (12), RFC 2408 section 3.15.
    public static let delete = ISAKMPPayloadType(rawValue: 12)
    /// Vendor ID (13), RFC 2408 section 3.16.
    public static let vendorID = ISAKMPPayloadType(rawValue: 13)
    /// NAT-Discovery (20), RFC 3947 section 3.1.
    public static let natDiscovery = ISAKMPPayloadType(rawValue: 20)
    /// NAT Original Address (21), RFC 3947 section 5.1.
    public static let natOriginalAddress = ISAKMPPayloadType(rawValue: 21)

    public var description: String { "ISAKMPPayloadType(\(self.rawValue))" }
}
