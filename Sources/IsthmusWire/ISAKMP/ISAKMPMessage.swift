/// An ISAKMP (IKEv1) message: header fields and either plaintext payloads or an encrypted body
/// (RFC 2408 section 3).
///
/// When the E flag is set everything after the header is ciphertext (RFC 2408 section 3.1); the
/// codec exposes it as ``Body/encrypted(firstPayloadType:ciphertext:)``. After decryption, parse
/// the plaintext with ``ISAKMPPayloadChain/parseDecrypted(_:firstPayloadType:origin:)``.
public struct ISAKMPMessage: Hashable, Sendable {
    /// What follows the header.
    public enum Body: Hashable, Sendable {
        /// Plaintext payloads (E flag clear).
        case payloads([ISAKMPPayload])
        /// Ciphertext (E flag set), with the header's Next Payload naming the first inner payload.
        case encrypted(firstPayloadType: ISAKMPPayloadType, ciphertext: [UInt8])
    }

    public var initiatorCookie: UInt64
    public var responderCookie: UInt64
    public var exchangeType: ISAKMPExchangeType
    /// The header flags. ``serialize()`` sets or clears ``ISAKMPHeader/Flags/encryption`` to match
    /// ``body``; a parsed message always has them consistent.
    public var flags: ISAKMPHeader.Flags
    public var messageID: UInt32
    /// The minor version; 0 in RFC 2408, kept as received.
    public var minorVersion: UInt8
    public var body: Body

    public init(
        initiatorCookie: UInt64,
        responderCookie: UInt64,
        exchangeType: ISAKMPExchangeType,
        flags: ISAKMPHeader.Flags = [],
        messageID: UInt32,
        minorVersion: UInt8 = 0,
        body: Body
    ) {
        self.initiatorCookie = initiatorCookie
        self.responderCookie = responderCookie
        self.exchangeType = exchangeType
        self.flags = flags
        self.messageID = messageID
        self.minorVersion = minorVersion
        self.body = body
        switch body {
        case .payloads: self.flags.remove(.encryption)
        case .encrypted: self.flags.insert(.encryption)
        }
    }

    /// Parses one ISAKMP message from a whole UDP payload (without the non-ESP marker).
    ///
    /// Checks the header is complete, the major version is 1 (else
    /// ``WireError/Code/unsupportedVersion``), the Length field equals the datagram length, and, for
    /// a plaintext message, that the payload chain ends exactly at the end.
    public static func parse(_ datagram: ArraySlice<UInt8>) throws(WireError) -> ISAKMPMessage {
        var reader = WireReader(datagram)
        let header = ISAKMPHeader(
            try IKEHeaderFields.parseMessage(from: &reader, majorVersion: ISAKMPHeader.majorVersion, names: .isakmp)
        )
        let body: Body
        if header.flags.contains(.encryption) {
            body = .encrypted(firstPayloadType: header.nextPayload, ciphertext: Array(reader.readRemaining()))
        } else {
            let payloads = try ISAKMPPayloadChain.parse(from: &reader, firstPayloadType: header.nextPayload)
            try reader.expectAtEnd("the last payload")
            body = .payloads(payloads)
        }
        return ISAKMPMessage(
            initiatorCookie: header.initiatorCookie,
            responderCookie: header.responderCookie,
            exchangeType: header.exchangeType,
            flags: header.flags,
            messageID: header.messageID,
            minorVersion: header.minorVersion,
            body: body
        )
    }

    /// Parses one ISAKMP message from a whole UDP payload.
    public static func parse(_ datagram: [UInt8]) throws(WireError) -> ISAKMPMessage {
        try self.parse(datagram[...])
    }

    /// The header as it will be serialized.
    public func header(length: UInt32) -> ISAKMPHeader {
        var flags = self.flags
        let nextPayload: ISAKMPPayloadType
        switch self.body {
        case .payloads(let payloads):
            flags.remove(.encryption)
            nextPayload = payloads.first?.payloadType ?? .none
        case .encrypted(let first, _):
            flags.insert(.encryption)
            nextPayload = first
        }
        return ISAKMPHeader(
            initiatorCookie: self.initiatorCookie,
            responderCookie: self.responderCookie,
            nextPayload: nextPayload,
            minorVersion: self.minorVersion,
            exchangeType: self.exchangeType,
            flags: flags,
            messageID: self.messageID,
            length: length
        )
    }

    /// Serializes the message with computed Next Payload, E flag and Length fields.
    public func serialize() -> [UInt8] {
        self.header(length: 0).fields.serializeMessage { writer in
            switch self.body {
            case .payloads(let payloads): ISAKMPPayloadChain.serialize(payloads, into: &writer)
            case .encrypted(_, let ciphertext): writer.writeBytes(ciphertext)
            }
        }
    }
}
