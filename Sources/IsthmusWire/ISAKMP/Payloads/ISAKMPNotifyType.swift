/// An ISAKMP notify message type (RFC 2408 section 3.14.1, RFC 2407 section 4.6.3, RFC 3706).
public struct ISAKMPNotifyType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// Whether this is an error type (1 to 16383, RFC 2408 section 3.14.1).
    public var isError: Bool { self.rawValue >= 1 && self.rawValue < 16384 }

    public var description: String { "ISAKMPNotifyType(\(self.rawValue))" }

    // MARK: Error types (RFC 2408 section 3.14.1)

    public static let invalidPayloadType = ISAKMPNotifyType(rawValue: 1)
    public static let doiNotSupported = ISAKMPNotifyType(rawValue: 2)
    public static let situationNotSupported = ISAKMPNotifyType(rawValue: 3)
    public static let invalidCookie = ISAKMPNotifyType(rawValue: 4)
    public static let invalidMajorVersion = ISAKMPNotifyType(rawValue: 5)
    public static let invalidMinorVersion = ISAKMPNotifyType(rawValue: 6)
    public static let invalidExchangeType = ISAKMPNotifyType(rawValue: 7)
    public static let invalidFlags = ISAKMPNotifyType(rawValue: 8)
    public static let invalidMessageID = ISAKMPNotifyType(rawValue: 9)
    public static let invalidProtocolID = ISAKMPNotifyType(rawValue: 10)
    public static let invalidSPI = ISAKMPNotifyType(rawValue: 11)
    public static let invalidTransformID = ISAKMPNotifyType(rawValue: 12)
    public static let attributesNotSupported = ISAKMPNotifyType(rawValue: 13)
    public static let noProposalChosen = ISAKMPNotifyType(rawValue: 14)
    public static let badProposalSyntax = ISAKMPNotifyType(rawValue: 15)
    public static let payloadMalformed = ISAKMPNotifyType(rawValue: 16)
    public static let invalidKeyInformation = ISAKMPNotifyType(rawValue: 17)
    public static let invalidIDInformation = ISAKMPNotifyType(rawValue: 18)
    public static let invalidCertEncoding = ISAKMPNotifyType(rawValue: 19)
    public static let invalidCertificate = ISAKMPNotifyType(rawValue: 20)
    public static let certTypeUnsupported = ISAKMPNotifyType(rawValue: 21)
    public static let invalidCertAuthority = ISAKMPNotifyType(rawValue: 22)
    public static let invalidHashInformation = ISAKMPNotifyType(rawValue: 23)
    public static let authenticationFailed = ISAKMPNotifyType(rawValue: 24)
    public static let invalidSignature = ISAKMPNotifyType(rawValue: 25)
    public static let addressNotification = ISAKMPNotifyType(rawValue: 26)
    public static let notifySALifetime = ISAKMPNotifyType(rawValue: 27)
    public static let certificateUnavailable = ISAKMPNotifyType(rawValue: 28)
    public static let unsupportedExchangeType = ISAKMPNotifyType(rawValue: 29)
    public static let unequalPayloadLengths = ISAKMPNotifyType(rawValue: 30)

    // MARK: Status types

    /// CONNECTED (16384), RFC 2408 section 3.14.1.
    public static let connected = ISAKMPNotifyType(rawValue: 16384)
    /// RESPONDER-LIFETIME (24576), RFC 2407 section 4.6.3.1.
    public static let responderLifetime = ISAKMPNotifyType(rawValue: 24576)
    /// REPLAY-STATUS (24577), RFC 2407 section 4.6.3.2.
    public static let replayStatus = ISAKMPNotifyType(rawValue: 24577)
    /// INITIAL-CONTACT (24578), RFC 2407 section 4.6.3.3.
    public static let initialContact = ISAKMPNotifyType(rawValue: 24578)
    /// R-U-THERE (36136), RFC 3706 section 5.
    public static let areYouThere = ISAKMPNotifyType(rawValue: 36136)
    /// R-U-THERE-ACK (36137), RFC 3706 section 5.
    public static let areYouThereAck = ISAKMPNotifyType(rawValue: 36137)
}
