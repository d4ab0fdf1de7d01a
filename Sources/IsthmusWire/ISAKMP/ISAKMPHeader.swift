/// The fixed ISAKMP header (RFC 2408 section 3.1).
///
/// ```
/// Initiator Cookie (8) | Responder Cookie (8) | Next Payload (1) | MjVer/MnVer (1) |
/// Exchange Type (1) | Flags (1) | Message ID (4) | Length (4)
/// ```
public struct ISAKMPHeader: Hashable, Sendable {
    /// The header length: 28 bytes.
    public static let size = 28
    /// The major version this codec implements (RFC 2408 section 3.1).
    public static let majorVersion: UInt8 = 1

    /// Header flags (RFC 2408 section 3.1).
    public struct Flags: OptionSet, Hashable, Sendable {
        public var rawValue: UInt8

        public init(rawValue: UInt8) {
            self.rawValue = rawValue
        }

        /// E (Encryption, bit 0): everything after the header is encrypted.
        public static let encryption = Flags(rawValue: 0x01)
        /// C (Commit, bit 1): key exchange synchronisation.
        public static let commit = Flags(rawValue: 0x02)
        /// A (Authentication Only, bit 2).
        public static let authenticationOnly = Flags(rawValue: 0x04)
    }

    public var initiatorCookie: UInt64
    public var responderCookie: UInt64
    public var nextPayload: ISAKMPPayloadType
    public var majorVersion: UInt8
    public var minorVersion: UInt8
    public var exchangeType: ISAKMPExchangeType
    public var flags: Flags
    public var messageID: UInt32
    public var length: UInt32

    public init(
        initiatorCookie: UInt64,
        responderCookie: UInt64,
        nextPayload: ISAKMPPayloadType,
        majorVersion: UInt8 = ISAKMPHeader.majorVersion,
        minorVersion: UInt8 = 0,
        exchangeType: ISAKMPExchangeType,
        flags: Flags,
        messageID: UInt32,
        length: UInt32
    ) {
        self.initiatorCookie = initiatorCookie
        self.responderCookie = responderCookie
        self.nextPayload = nextPayload
        self.majorVersion = majorVersion
        self.minorVersion = minorVersion
        self.exchangeType = exchangeType
        self.flags = flags
        self.messageID = messageID
        self.length = length
    }

    /// Reads the header from the start of a datagram without validating version or length.
    ///
    /// The version octet is how a port-500 dispatcher tells IKEv1 (0x10) from IKEv2 (0x20).
    public static func parse(_ datagram: ArraySlice<UInt8>) throws(WireError) -> ISAKMPHeader {
        var reader = WireReader(datagram)
        return try ISAKMPHeader.parse(from: &reader)
    }

    static func parse(from reader: inout WireReader) throws(WireError) -> ISAKMPHeader {
        let initiatorCookie = try reader.expectUInt64("ISAKMP initiator cookie")
        let responderCookie = try reader.expectUInt64("ISAKMP responder cookie")
        let nextPayload = try reader.expectUInt8("ISAKMP next payload")
        let version = try reader.expectUInt8("ISAKMP version")
        let exchangeType = try reader.expectUInt8("ISAKMP exchange type")
        let flags = try reader.expectUInt8("ISAKMP flags")
        let messageID = try reader.expectUInt32("ISAKMP message ID")
        let length = try reader.expectUInt32("ISAKMP length")
        return ISAKMPHeader(
            initiatorCookie: initiatorCookie,
            responderCookie: responderCookie,
            nextPayload: ISAKMPPayloadType(rawValue: nextPayload),
            majorVersion: version >> 4,
            minorVersion: version & 0x0F,
            exchangeType: ISAKMPExchangeType(rawValue: exchangeType),
            flags: Flags(rawValue: flags),
            messageID: messageID,
            length: length
        )
    }

    /// Appends the header in wire form.
    public func serialize(into writer: inout WireWriter) {
        writer.writeInteger(self.initiatorCookie)
        writer.writeInteger(self.responderCookie)
        writer.writeUInt8(self.nextPayload.rawValue)
        writer.writeUInt8((self.majorVersion << 4) | (self.minorVersion & 0x0F))
        writer.writeUInt8(self.exchangeType.rawValue)
        writer.writeUInt8(self.flags.rawValue)
        writer.writeInteger(self.messageID)
        writer.writeInteger(self.length)
    }
}
