/// An ISAKMP exchange type (RFC 2408 section 3.1, RFC 2409 for Quick Mode and New Group Mode).
public struct ISAKMPExchangeType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// Base (1).
    public static let base = ISAKMPExchangeType(rawValue: 1)
    /// Identity Protection (2): IKEv1 Main Mode.
    public static let identityProtection = ISAKMPExchangeType(rawValue: 2)
    /// Authentication Only (3).
    public static let authenticationOnly = ISAKMPExchangeType(rawValue: 3)
    /// Aggressive (4): IKEv1 Aggressive Mode.
    public static let aggressive = ISAKMPExchangeType(rawValue: 4)
    /// Informational (5).
    public static let informational = ISAKMPExchangeType(rawValue: 5)
    /// Quick Mode (32), RFC 2409 section 5.5.
    public static let quickMode = ISAKMPExchangeType(rawValue: 32)
    /// New Group Mode (33), RFC 2409 section 5.6.
    public static let newGroupMode = ISAKMPExchangeType(rawValue: 33)
}
