/// The few IKE header fields the dispatcher routes by, read without parsing the rest of the message.
///
/// IKEv2 (RFC 7296 section 3.1) and ISAKMP (RFC 2408 section 3.1) share the layout of the first 28 bytes:
/// initiator SPI/cookie (0-7), responder SPI/cookie (8-15), next payload (16), version (17, major in the
/// high nibble), exchange type (18), flags (19), message ID (20-23), length (24-27).
public struct IKEHeaderPeek: Sendable, Hashable {
    /// The header length both versions share.
    public static let size = 28
    /// IKEv2's IKE_SA_INIT exchange type (RFC 7296 section 3.1).
    public static let ikeSAInitExchange: UInt8 = 34
    /// Flags byte: the sender is the original initiator of the IKE SA.
    public static let initiatorFlag: UInt8 = 0x08
    /// Flags byte: the message is a response.
    public static let responseFlag: UInt8 = 0x20
    /// ISAKMP exchange types that open a phase 1 SA (RFC 2408 section 3.1; RFC 2409 section 5):
    /// Identity Protection (Main Mode) and Aggressive.
    public static let isakmpPhase1Exchanges: Set<UInt8> = [2, 4]

    public var initiatorSPI: UInt64
    public var responderSPI: UInt64
    /// The major version: 2 for IKEv2, 1 for ISAKMP (IKEv1).
    public var majorVersion: UInt8
    public var exchangeType: UInt8
    public var flags: UInt8
    public var messageID: UInt32

    /// Reads the header, or nil when fewer than 28 bytes are given. Never traps.
    public init?(_ bytes: some RandomAccessCollection<UInt8>) {
        guard bytes.count >= Self.size else { return nil }
        func byte(_ offset: Int) -> UInt8 { bytes[bytes.index(bytes.startIndex, offsetBy: offset)] }
        func integer(_ offset: Int, _ length: Int) -> UInt64 {
            var value: UInt64 = 0
            for index in offset..<(offset + length) { value = value << 8 | UInt64(byte(index)) }
            return value
        }
        initiatorSPI = integer(0, 8)
        responderSPI = integer(8, 8)
        majorVersion = byte(17) >> 4
        exchangeType = byte(18)
        flags = byte(19)
        messageID = UInt32(truncatingIfNeeded: integer(20, 4))
    }

    /// The sender is the SA's original initiator (I flag).
    public var senderIsOriginalInitiator: Bool { flags & Self.initiatorFlag != 0 }
    /// The message is a response (R flag).
    public var isResponse: Bool { flags & Self.responseFlag != 0 }

    /// The SPI that is ours: the responder SPI when the peer initiated the SA, the initiator SPI when we did.
    public var ourSPI: UInt64 { senderIsOriginalInitiator ? responderSPI : initiatorSPI }

    /// An IKEv2 IKE_SA_INIT request opening a new SA: responder SPI zero, I flag set, not a response.
    public var isNewSARequest: Bool {
        majorVersion == 2 && exchangeType == Self.ikeSAInitExchange && responderSPI == 0
            && senderIsOriginalInitiator && !isResponse
    }

    /// An ISAKMP (IKEv1) phase 1 opening, Main Mode or Aggressive message 1: responder cookie zero,
    /// message ID zero (RFC 2408 section 3.1 has no initiator flag; the zero cookie says who is new).
    public var isNewISAKMPSARequest: Bool {
        majorVersion == 1 && Self.isakmpPhase1Exchanges.contains(exchangeType) && responderSPI == 0
            && initiatorSPI != 0 && messageID == 0
    }
}
