/// Parsing and serializing a chain of ISAKMP payloads (RFC 2408 section 3.2).
public enum ISAKMPPayloadChain {
    /// The size of the generic payload header.
    public static let genericHeaderSize = 4

    /// Parses a plaintext payload chain that must end exactly at the end of `bytes`.
    ///
    /// - Parameters:
    ///   - bytes: the payloads.
    ///   - firstPayloadType: the type of the first payload (from the ISAKMP header).
    ///   - origin: the absolute offset of `bytes`, for error reporting.
    public static func parse(
        _ bytes: ArraySlice<UInt8>,
        firstPayloadType: ISAKMPPayloadType,
        origin: Int = 0
    ) throws(WireError) -> [ISAKMPPayload] {
        var reader = WireReader(bytes, origin: origin)
        let payloads = try self.parse(from: &reader, firstPayloadType: firstPayloadType)
        try reader.expectAtEnd("the last payload")
        return payloads
    }

    /// Parses a decrypted message body, accepting zero padding after the last payload.
    ///
    /// IKEv1 encrypts whole cipher blocks (RFC 2408 section 3.1, Encryption flag; RFC 2409
    /// Appendix B), so a decrypted body may end with padding that belongs to no payload. Up to
    /// ``WireLimits/maximumIKEv1PaddingLength`` trailing bytes are accepted, and all must be zero.
    /// - Parameters:
    ///   - body: the decrypted bytes after the ISAKMP header.
    ///   - firstPayloadType: the Next Payload field of the ISAKMP header.
    ///   - origin: the absolute offset of the body (normally 28).
    public static func parseDecrypted(
        _ body: ArraySlice<UInt8>,
        firstPayloadType: ISAKMPPayloadType,
        origin: Int = ISAKMPHeader.size
    ) throws(WireError) -> [ISAKMPPayload] {
        var reader = WireReader(body, origin: origin)
        let payloads = try self.parse(from: &reader, firstPayloadType: firstPayloadType)
        let paddingStart = reader.offset
        let padding = reader.readRemaining()
        guard padding.count <= WireLimits.maximumIKEv1PaddingLength else {
            throw WireError(.trailingData, at: paddingStart, "\(padding.count) bytes after the last payload")
        }
        guard padding.allSatisfy({ $0 == 0 }) else {
            throw WireError(.trailingData, at: paddingStart, "non-zero bytes after the last payload")
        }
        return payloads
    }

    static func parse(
        from reader: inout WireReader,
        firstPayloadType: ISAKMPPayloadType
    ) throws(WireError) -> [ISAKMPPayload] {
        var payloads: [ISAKMPPayload] = []
        var currentType = firstPayloadType
        while currentType != .none {
            guard payloads.count < WireLimits.maximumPayloadCount else {
                throw WireError(
                    .tooManyPayloads,
                    at: reader.offset,
                    "more than \(WireLimits.maximumPayloadCount) payloads"
                )
            }
            let (nextType, start, bodyReader) = try self.readGenericHeader(from: &reader)
            var body = bodyReader
            let payload = try self.decodeBody(type: currentType, body: &body, start: start)
            try body.expectAtEnd("a payload body")
            payloads.append(payload)
            currentType = nextType
        }
        return payloads
    }

    /// Reads a generic payload header and returns the next payload type, the header's offset and
    /// a reader bounded to the body.
    static func readGenericHeader(
        from reader: inout WireReader
    ) throws(WireError) -> (next: ISAKMPPayloadType, start: Int, body: WireReader) {
        let start = reader.offset
        let next = ISAKMPPayloadType(rawValue: try reader.expectUInt8("payload next payload"))
        _ = try reader.expectUInt8("payload reserved")
        let length = Int(try reader.expectUInt16("payload length"))
        guard length >= genericHeaderSize else {
            throw WireError(.lengthMismatch, at: start + 2, "payload length \(length) below the header size")
        }
        guard let body = reader.readSubReader(length - genericHeaderSize) else {
            throw WireError(
                .lengthMismatch,
                at: start + 2,
                "payload length \(length) beyond the \(reader.remaining + 4) bytes left"
            )
        }
        return (next, start, body)
    }

    private static func decodeBody(
        type: ISAKMPPayloadType,
        body: inout WireReader,
        start: Int
    ) throws(WireError) -> ISAKMPPayload {
        switch type {
        case .securityAssociation: return .securityAssociation(try .init(parsing: &body))
        case .keyExchange: return .keyExchange(try .init(parsing: &body))
        case .identification: return .identification(try .init(parsing: &body))
        case .certificate: return .certificate(try .init(parsing: &body))
        case .certificateRequest: return .certificateRequest(try .init(parsing: &body))
        case .hash: return .hash(try .init(parsing: &body))
        case .signature: return .signature(try .init(parsing: &body))
        case .nonce: return .nonce(try .init(parsing: &body))
        case .notification: return .notification(try .init(parsing: &body))
        case .delete: return .delete(try .init(parsing: &body))
        case .vendorID: return .vendorID(try .init(parsing: &body))
        case .natDiscovery: return .natDiscovery(try .init(parsing: &body))
        case .natOriginalAddress: return .natOriginalAddress(try .init(parsing: &body))
        case .proposal, .transform:
            throw WireError(.invalidValue, at: start, "payload \(type.rawValue) outside an SA payload")
        default:
            return .unknown(type: type, body: Array(body.readRemaining()))
        }
    }

    /// Serializes a payload chain; the first payload's type is `payloads.first?.payloadType`.
    public static func serialize(_ payloads: [ISAKMPPayload]) -> [UInt8] {
        var writer = WireWriter()
        self.serialize(payloads, into: &writer)
        return writer.bytes
    }

    /// Appends a serialized payload chain to `writer`.
    /// - Precondition: every payload fits in 65535 bytes.
    public static func serialize(_ payloads: [ISAKMPPayload], into writer: inout WireWriter) {
        for (index, payload) in payloads.enumerated() {
            let nextType = index == payloads.count - 1 ? ISAKMPPayloadType.none : payloads[index + 1].payloadType
            let start = writer.count
            writer.writeUInt8(nextType.rawValue)
            writer.writeUInt8(0)
            let lengthPosition = writer.reserveUInt16()
            switch payload {
            case .securityAssociation(let body): body.serializeBody(into: &writer)
            case .keyExchange(let body): body.serializeBody(into: &writer)
            case .identification(let body): body.serializeBody(into: &writer)
            case .certificate(let body): body.serializeBody(into: &writer)
            case .certificateRequest(let body): body.serializeBody(into: &writer)
            case .hash(let body): body.serializeBody(into: &writer)
            case .signature(let body): body.serializeBody(into: &writer)
            case .nonce(let body): body.serializeBody(into: &writer)
            case .notification(let body): body.serializeBody(into: &writer)
            case .delete(let body): body.serializeBody(into: &writer)
            case .vendorID(let body): body.serializeBody(into: &writer)
            case .natDiscovery(let body): body.serializeBody(into: &writer)
            case .natOriginalAddress(let body): body.serializeBody(into: &writer)
            case .unknown(_, let body): writer.writeBytes(body)
            }
            writer.patchLength16(at: lengthPosition, from: start)
        }
    }
}
