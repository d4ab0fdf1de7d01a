/// An IKEv2 notify message type (RFC 7296 section 3.10.1, IANA "IKEv2 Notify Message Types").
///
/// Types below 16384 are errors; 16384 and above are status notifications.
public struct IKEv2NotifyType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// The first status type; every lower value is an error type (RFC 7296 section 3.10.1).
    public static let firstStatusType: UInt16 = 16384

    /// Whether this is an error notification (type below 16384).
    public var isError: Bool { self.rawValue < IKEv2NotifyType.firstStatusType }

    public var description: String { "IKEv2NotifyType(\(self.rawValue))" }

    // MARK: Error types (RFC 7296 section 3.10.1)

    public static let unsupportedCriticalPayload = IKEv2NotifyType(rawValue: 1)
    public static let invalidIKESPI = IKEv2NotifyType(rawValue: 4)
    public static let invalidMajorVersion = IKEv2NotifyType(rawValue: 5)
    public static let invalidSyntax = IKEv2NotifyType(rawValue: 7)
    public static let invalidMessageID = IKEv2NotifyType(rawValue: 9)
    public static let invalidSPI = IKEv2NotifyType(rawValue: 11)
    public static let noProposalChosen = IKEv2NotifyType(rawValue: 14)
    public static let invalidKEPayload = IKEv2NotifyType(rawValue: 17)
    public static let authenticationFailed = IKEv2NotifyType(rawValue: 24)
    public static let singlePairRequired = IKEv2NotifyType(rawValue: 34)
    public static let noAdditionalSAs = IKEv2NotifyType(rawValue: 35)
    public static let internalAddressFailure = IKEv2NotifyType(rawValue: 36)
    public static let failedCPRequired = IKEv2NotifyType(rawValue: 37)
    public static let tsUnacceptable = IKEv2NotifyType(rawValue: 38)
    public static let invalidSelectors = IKEv2NotifyType(rawValue: 39)
    public static let temporaryFailure = IKEv2NotifyType(rawValue: 43)
    public static let childSANotFound = IKEv2NotifyType(rawValue: 44)

    // MARK: Status types (RFC 7296 section 3.10.1 and extensions)

    public static let initialContact = IKEv2NotifyType(rawValue: 16384)
    public static let setWindowSize = IKEv2NotifyType(rawValue: 16385)
    public static let additionalTSPossible = IKEv2NotifyType(rawValue: 16386)
    public static let ipcompSupported = IKEv2NotifyType(rawValue: 16387)
    /// NAT_DETECTION_SOURCE_IP: SHA-1(SPIi | SPIr | IP | port), RFC 7296 section 2.23.
    public static let natDetectionSourceIP = IKEv2NotifyType(rawValue: 16388)
    /// NAT_DETECTION_DESTINATION_IP, RFC 7296 section 2.23.
    public static let natDetectionDestinationIP = IKEv2NotifyType(rawValue: 16389)
    /// COOKIE, RFC 7296 section 2.6.
    public static let cookie = IKEv2NotifyType(rawValue: 16390)
    public static let useTransportMode = IKEv2NotifyType(rawValue: 16391)
    public static let httpCertLookupSupported = IKEv2NotifyType(rawValue: 16392)
    public static let rekeySA = IKEv2NotifyType(rawValue: 16393)
    public static let espTFCPaddingNotSupported = IKEv2NotifyType(rawValue: 16394)
    public static let nonFirstFragmentsAlso = IKEv2NotifyType(rawValue: 16395)
    /// IKEV2_FRAGMENTATION_SUPPORTED, RFC 7383 section 2.3.
    public static let ikev2FragmentationSupported = IKEv2NotifyType(rawValue: 16430)
    /// SIGNATURE_HASH_ALGORITHMS, RFC 7427 section 4.
    public static let signatureHashAlgorithms = IKEv2NotifyType(rawValue: 16431)
}
