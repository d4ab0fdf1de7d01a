/// The 4-byte header that starts every payload in both versions (RFC 2408 section 3.2, RFC 7296
/// section 3.2), and every proposal and transform substructure of an SA payload (RFC 2408 sections 3.5
/// and 3.6, RFC 7296 sections 3.3.1 and 3.3.2).
///
/// ```
/// Next Payload (1) | RESERVED, or IKEv2's Critical bit (1) | Payload Length (2)
/// ```
///
/// In an IKEv2 substructure the first octet is called Last Substruc; it takes the values ISAKMP's Next
/// Payload has there: 0 on the last, 2 before another proposal, 3 before another transform.
struct GenericPayloadHeader {
    /// The header length: 4 bytes.
    static let size = 4

    /// The absolute offset of the header's first octet.
    var start: Int
    /// The Next Payload field (a substructure's Last Substruc).
    var nextPayload: UInt8
    /// The second octet: IKEv2's critical bit and reserved bits, RESERVED in ISAKMP.
    var flags: UInt8

    /// Reads a header and returns it with a reader bounded to the body its Payload Length gives.
    ///
    /// - Parameters:
    ///   - structure: what the header starts (`payload`, `proposal`, `transform`), for error messages.
    ///   - minimumLength: the smallest Payload Length accepted, header included.
    /// - Throws: ``WireError/Code/truncated`` if the header is incomplete,
    ///   ``WireError/Code/lengthMismatch`` if its length is below `minimumLength` or beyond the bytes left.
    static func read(
        from reader: inout WireReader,
        _ structure: StaticString,
        minimumLength: Int = size
    ) throws(WireError) -> (header: GenericPayloadHeader, body: WireReader) {
        let start = reader.offset
        let nextPayload = try reader.expectUInt8("payload next payload")
        let flags = try reader.expectUInt8("payload flags")
        let length = Int(try reader.expectUInt16("payload length"))
        guard length >= minimumLength else {
            throw WireError(.lengthMismatch, at: start + 2, "\(structure) length \(length) below \(minimumLength)")
        }
        guard let body = reader.readSubReader(length - size) else {
            throw WireError(
                .lengthMismatch, at: start + 2,
                "\(structure) length \(length) beyond the \(reader.remaining + size) bytes left"
            )
        }
        return (GenericPayloadHeader(start: start, nextPayload: nextPayload, flags: flags), body)
    }

    /// Appends a header, then the body `writeBody` appends, and fills in the Payload Length.
    ///
    /// - Precondition: header and body fit in 65535 bytes.
    static func write(
        nextPayload: UInt8,
        flags: UInt8 = 0,
        into writer: inout WireWriter,
        body writeBody: (inout WireWriter) -> Void
    ) {
        let start = writer.count
        writer.writeUInt8(nextPayload)
        writer.writeUInt8(flags)
        let lengthPosition = writer.reserveUInt16()
        writeBody(&writer)
        writer.patchLength16(at: lengthPosition, from: start)
    }
}
