/// The fixed IKEv2 header (RFC 7296 section 3.1).
///
/// ```
/// IKE SA Initiator's SPI (8) | IKE SA Responder's SPI (8) | Next Payload (1) |
/// MjVer/MnVer (1) | Exchange Type (1) | Flags (1) | Message ID (4) | Length (4)
/// ```
public struct IKEv2Header: Hashable, Sendable {
    /// The header length: 28 bytes.
    public static let size = IKEHeaderFields.size

    /// The major version this codec implements (RFC 7296 section 3.1).
    public static let majorVersion: UInt8 = 2

    /// Header flags (RFC 7296 section 3.1).
    public struct Flags: OptionSet, Hashable, Sendable {
        public var rawValue: UInt8

        public init(rawValue: UInt8) {
            self.rawValue = rawValue
        }

        /// I (Initiator, bit 3): set by the original initiator of the IKE SA.
        public static let initiator = Flags(rawValue: 0x08)
        /// V (Version, bit 4): the sender can speak a higher major version.
        public static let version = Flags(rawValue: 0x10)
        /// R (Response, bit 5): this message is a response.
        public static let response = Flags(rawValue: 0x20)
    }

    public var initiatorSPI: UInt64
    public var responderSPI: UInt64
    /// The type of the first payload.
    public var nextPayload: IKEv2PayloadType
    /// The major version (high nibble of the version octet).
    public var majorVersion: UInt8 = IKEv2Header.majorVersion
    /// The minor version (low nibble); sent as 0, ignored on receipt (RFC 7296 section 3.1).
    public var minorVersion: UInt8 = 0
    public var exchangeType: IKEv2ExchangeType
    /// The flags octet as received, including reserved bits (which receivers ignore).
    public var flags: Flags
    public var messageID: UInt32
    /// The total message length, header included.
    public var length: UInt32

    /// Reads the header from the start of a datagram without validating the version or the length.
    ///
    /// Use this to route a datagram (SPIs, exchange type, message ID) or to answer
    /// INVALID_MAJOR_VERSION; ``IKEv2Message/parse(_:)`` performs the full checks.
    /// - Throws: ``WireError/Code/truncated`` if fewer than 28 bytes are present.
    public static func parse(_ datagram: ArraySlice<UInt8>) throws(WireError) -> IKEv2Header {
        var reader = WireReader(datagram)
        return IKEv2Header(try IKEHeaderFields.parse(from: &reader, names: .ikev2))
    }

    /// Appends the header in wire form.
    public func serialize(into writer: inout WireWriter) {
        self.fields.serialize(into: &writer)
    }
}

extension IKEv2Header {
    /// The header with the fields' octets given their types.
    init(_ fields: IKEHeaderFields) {
        self.init(
            initiatorSPI: fields.initiator, responderSPI: fields.responder,
            nextPayload: IKEv2PayloadType(rawValue: fields.nextPayload), majorVersion: fields.majorVersion,
            minorVersion: fields.minorVersion, exchangeType: IKEv2ExchangeType(rawValue: fields.exchangeType),
            flags: Flags(rawValue: fields.flags), messageID: fields.messageID, length: fields.length)
    }

    /// The fields as octets.
    var fields: IKEHeaderFields {
        IKEHeaderFields(
            initiator: initiatorSPI, responder: responderSPI, nextPayload: nextPayload.rawValue,
            majorVersion: majorVersion,
            minorVersion: minorVersion, exchangeType: exchangeType.rawValue, flags: flags.rawValue,
            messageID: messageID, length: length)
    }
}
