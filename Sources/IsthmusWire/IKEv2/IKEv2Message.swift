/// An IKEv2 message: the header fields and the payload chain (RFC 7296 section 3).
///
/// The header's Next Payload and Length fields are not stored: ``serialize()`` derives them from
/// ``payloads``. For a protected message the chain ends with an ``IKEv2Payload/encrypted(_:)`` or
/// ``IKEv2Payload/encryptedFragment(_:)`` payload whose inner chain is parsed after decryption with
/// ``IKEv2PayloadChain/parse(_:firstPayloadType:origin:)``.
public struct IKEv2Message: Hashable, Sendable {
    public var initiatorSPI: UInt64
    public var responderSPI: UInt64
    public var exchangeType: IKEv2ExchangeType
    public var flags: IKEv2Header.Flags
    public var messageID: UInt32
    /// The minor version; 0 when sending (RFC 7296 section 3.1), kept as received for round trips.
    public var minorVersion: UInt8
    public var payloads: [IKEv2Payload]

    public init(
        initiatorSPI: UInt64,
        responderSPI: UInt64,
        exchangeType: IKEv2ExchangeType,
        flags: IKEv2Header.Flags,
        messageID: UInt32,
        minorVersion: UInt8 = 0,
        payloads: [IKEv2Payload]
    ) {
        self.initiatorSPI = initiatorSPI
        self.responderSPI = responderSPI
        self.exchangeType = exchangeType
        self.flags = flags
        self.messageID = messageID
        self.minorVersion = minorVersion
        self.payloads = payloads
    }

    /// Parses one IKEv2 message from a whole UDP payload (without the non-ESP marker on port 4500).
    ///
    /// Checks, in order: the header is complete; the major version is 2 (else
    /// ``WireError/Code/unsupportedVersion`` with the version byte, RFC 7296 section 2.5); the
    /// Length field equals the datagram length and is at most ``WireLimits/maximumMessageLength``;
    /// the payload chain is well formed and ends exactly at the end.
    public static func parse(_ datagram: ArraySlice<UInt8>) throws(WireError) -> IKEv2Message {
        var reader = WireReader(datagram)
        let header = IKEv2Header(
            try IKEHeaderFields.parseMessage(from: &reader, majorVersion: IKEv2Header.majorVersion, names: .ikev2)
        )
        let payloads = try IKEv2PayloadChain.parse(
            from: &reader,
            firstPayloadType: header.nextPayload,
            allowsEncrypted: true
        )
        return IKEv2Message(
            initiatorSPI: header.initiatorSPI,
            responderSPI: header.responderSPI,
            exchangeType: header.exchangeType,
            flags: header.flags,
            messageID: header.messageID,
            minorVersion: header.minorVersion,
            payloads: payloads
        )
    }

    /// Parses one IKEv2 message from a whole UDP payload.
    public static func parse(_ datagram: [UInt8]) throws(WireError) -> IKEv2Message {
        try self.parse(datagram[...])
    }

    /// The header as it will be serialized.
    public func header(length: UInt32) -> IKEv2Header {
        IKEv2Header(
            initiatorSPI: self.initiatorSPI,
            responderSPI: self.responderSPI,
            nextPayload: self.payloads.first?.payloadType ?? .none,
            minorVersion: self.minorVersion,
            exchangeType: self.exchangeType,
            flags: self.flags,
            messageID: self.messageID,
            length: length
        )
    }

    /// Serializes the message with computed Next Payload and Length fields.
    public func serialize() -> [UInt8] {
        self.header(length: 0).fields.serializeMessage { writer in
            IKEv2PayloadChain.serialize(self.payloads, into: &writer)
        }
    }
}
