/// The fixed 28-byte header that IKEv2 (RFC 7296 section 3.1) inherited from ISAKMP (RFC 2408 section 3.1):
/// initiator and responder SPI (ISAKMP: cookie), next payload, major/minor version, exchange type, flags,
/// message ID and length. ``IKEv2Header`` and ``ISAKMPHeader`` give the fields their protocol's types; this
/// reads and writes the octets once for both.
struct IKEHeaderFields {
    /// What the fields are called in error messages (`IKE header initiator SPI`, `ISAKMP initiator cookie`).
    struct Names {
        var initiator, responder, nextPayload, version, exchangeType, flags, messageID, length: StaticString

        static let ikev2 = Names(
            initiator: "IKE header initiator SPI", responder: "IKE header responder SPI",
            nextPayload: "IKE header next payload", version: "IKE header version",
            exchangeType: "IKE header exchange type", flags: "IKE header flags", messageID: "IKE header message ID",
            length: "IKE header length")
        static let isakmp = Names(
            initiator: "ISAKMP initiator cookie", responder: "ISAKMP responder cookie",
            nextPayload: "ISAKMP next payload", version: "ISAKMP version", exchangeType: "ISAKMP exchange type",
            flags: "ISAKMP flags", messageID: "ISAKMP message ID", length: "ISAKMP length")
    }

    static let size = 28

    var initiator: UInt64
    var responder: UInt64
    var nextPayload: UInt8
    var majorVersion: UInt8
    var minorVersion: UInt8
    var exchangeType: UInt8
    var flags: UInt8
    var messageID: UInt32
    var length: UInt32

    static func parse(from reader: inout WireReader, names: Names) throws(WireError) -> IKEHeaderFields {
        let initiator = try reader.expectUInt64(names.initiator)
        let responder = try reader.expectUInt64(names.responder)
        let nextPayload = try reader.expectUInt8(names.nextPayload)
        let version = try reader.expectUInt8(names.version)
        let exchangeType = try reader.expectUInt8(names.exchangeType)
        let flags = try reader.expectUInt8(names.flags)
        let messageID = try reader.expectUInt32(names.messageID)
        let length = try reader.expectUInt32(names.length)
        return IKEHeaderFields(
            initiator: initiator, responder: responder, nextPayload: nextPayload, majorVersion: version >> 4,
            minorVersion: version & 0x0F, exchangeType: exchangeType, flags: flags, messageID: messageID,
            length: length)
    }

    /// Reads the header of a whole message, `reader` holding the whole datagram, and checks what both
    /// versions require of it (RFC 7296 section 3.1, RFC 2408 section 3.1): the major version is
    /// `majorVersion` (else ``WireError/Code/unsupportedVersion`` with the version in ``WireError/value``,
    /// for INVALID-MAJOR-VERSION), the datagram is at most ``WireLimits/maximumMessageLength`` bytes and
    /// the Length field equals its length.
    static func parseMessage(
        from reader: inout WireReader,
        majorVersion: UInt8,
        names: Names
    ) throws(WireError) -> IKEHeaderFields {
        let datagramLength = reader.remaining
        let fields = try self.parse(from: &reader, names: names)
        guard fields.majorVersion == majorVersion else {
            throw WireError(
                .unsupportedVersion, at: 17,
                "major version \(fields.majorVersion), expected \(majorVersion)",
                value: UInt32(fields.majorVersion)
            )
        }
        guard datagramLength <= WireLimits.maximumMessageLength else {
            throw WireError(.lengthMismatch, at: 0, "datagram of \(datagramLength) bytes")
        }
        guard fields.length == UInt32(datagramLength) else {
            throw WireError(
                .lengthMismatch, at: 24, "header length \(fields.length) but datagram of \(datagramLength) bytes")
        }
        return fields
    }

    func serialize(into writer: inout WireWriter) {
        writer.writeInteger(initiator)
        writer.writeInteger(responder)
        writer.writeUInt8(nextPayload)
        writer.writeUInt8((majorVersion << 4) | (minorVersion & 0x0F))
        writer.writeUInt8(exchangeType)
        writer.writeUInt8(flags)
        writer.writeInteger(messageID)
        writer.writeInteger(length)
    }

    /// Serializes a message: these fields with the Length computed, then the body `writeBody` appends.
    func serializeMessage(body writeBody: (inout WireWriter) -> Void) -> [UInt8] {
        var writer = WireWriter(reservingCapacity: 256)
        self.serialize(into: &writer)
        writeBody(&writer)
        writer.patchUInt32(UInt32(writer.count), at: 24)
        return writer.bytes
    }
}
