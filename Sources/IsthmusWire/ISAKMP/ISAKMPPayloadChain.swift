/// Parsing and serializing a chain of ISAKMP payloads (RFC 2408 section 3.2).
public enum ISAKMPPayloadChain {
    /// The size of the generic payload header.
    public static let genericHeaderSize = GenericPayloadHeader.size

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
        try PayloadChain.parse(from: &reader, firstPayloadType: firstPayloadType, decode: self.decodeBody)
    }

    private static func decodeBody(
        type: ISAKMPPayloadType,
        header: GenericPayloadHeader,
        body: inout WireReader
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
            throw WireError(.invalidValue, at: header.start, "payload \(type.rawValue) outside an SA payload")
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
        PayloadChain.serialize(payloads, into: &writer)
    }
}
