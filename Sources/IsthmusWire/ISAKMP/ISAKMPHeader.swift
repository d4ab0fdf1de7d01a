/// The fixed ISAKMP header (RFC 2408 section 3.1).
///
/// ```
/// Initiator Cookie (8) | Responder Cookie (8) | Next Payload (1) | MjVer/MnVer (1) |
/// Exchange Type (1) | Flags (1) | Message ID (4) | Length (4)
/// ```
public struct ISAKMPHeader: Hashable, Sendable {
    /// The header length: 28 bytes.
    public static let size = IKEHeaderFields.size
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
    public var majorVersion: UInt8 = ISAKMPHeader.majorVersion
    public var minorVersion: UInt8 = 0
    public var exchangeType: ISAKMPExchangeType
    public var flags: Flags
    public var messageID: UInt32
    public var length: UInt32

    /// Reads the header from the start of a datagram without validating version or length.
    ///
    /// The version octet is how a port-500 dispatcher tells IKEv1 (0x10) from IKEv2 (0x20).
    public static func parse(_ datagram: ArraySlice<UInt8>) throws(WireError) -> ISAKMPHeader {
        var reader = WireReader(datagram)
        return ISAKMPHeader(try IKEHeaderFields.parse(from: &reader, names: .isakmp))
    }

    /// Appends the header in wire form.
    public func serialize(into writer: inout WireWriter) {
        self.fields.serialize(into: &writer)
    }
}

extension ISAKMPHeader {
    /// The header with the fields' octets given their types.
    init(_ fields: IKEHeaderFields) {
        self.init(
            initiatorCookie: fields.initiator, responderCookie: fields.responder,
            nextPayload: ISAKMPPayloadType(rawValue: fields.nextPayload), majorVersion: fields.majorVersion,
            minorVersion: fields.minorVersion, exchangeType: ISAKMPExchangeType(rawValue: fields.exchangeType),
            flags: Flags(rawValue: fields.flags), messageID: fields.messageID, length: fields.length)
    }

    /// The fields as octets.
    var fields: IKEHeaderFields {
        IKEHeaderFields(
            initiator: initiatorCookie, responder: responderCookie, nextPayload: nextPayload.rawValue,
            majorVersion: majorVersion, minorVersion: minorVersion, exchangeType: exchangeType.rawValue,
            flags: flags.rawValue, messageID: messageID, length: length)
    }
}
