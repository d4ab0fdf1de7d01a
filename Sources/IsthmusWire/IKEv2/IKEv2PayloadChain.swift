/// Parsing and serializing a chain of IKEv2 payloads linked by Next Payload fields
/// (RFC 7296 section 3.2).
///
/// The chain is framed before any payload is decoded: each generic header's length is checked
/// against the bytes left, the count against ``WireLimits/maximumPayloadCount``, and the chain
/// must end exactly at the end of the input. An SK or SKF payload ends the chain.
public enum IKEv2PayloadChain {
    /// The size of the generic payload header.
    public static let genericHeaderSize = 4

    /// The critical bit in the second octet of the generic payload header.
    static let criticalBit: UInt8 = 0x80

    /// Parses a payload chain, for example the decrypted content of an SK payload.
    ///
    /// - Parameters:
    ///   - bytes: the chain, with no padding (the caller strips the SK padding after decryption).
    ///   - firstPayloadType: the type of the first payload (from the IKE header or SK payload).
    ///   - origin: the absolute offset of `bytes` for error reporting.
    /// - Returns: the payloads in wire order.
    /// - Throws: ``WireError``; ``WireError/Code/unsupportedCriticalPayload`` carries the type in
    ///   ``WireError/value``; an SK or SKF payload inside is ``WireError/Code/invalidValue``
    ///   (an Encrypted payload must not contain another, RFC 7296 section 3.14).
    public static func parse(
        _ bytes: ArraySlice<UInt8>,
        firstPayloadType: IKEv2PayloadType,
        origin: Int = 0
    ) throws(WireError) -> [IKEv2Payload] {
        var reader = WireReader(bytes, origin: origin)
        return try self.parse(from: &reader, firstPayloadType: firstPayloadType, allowsEncrypted: false)
    }

    static func parse(
        from reader: inout WireReader,
        firstPayloadType: IKEv2PayloadType,
        allowsEncrypted: Bool
    ) throws(WireError) -> [IKEv2Payload] {
        var payloads: [IKEv2Payload] = []
        var currentType = firstPayloadType
        while currentType != .none {
            guard payloads.count < WireLimits.maximumPayloadCount else {
                throw WireError(
                    .tooManyPayloads,
                    at: reader.offset,
                    "more than \(WireLimits.maximumPayloadCount) payloads"
                )
            }
            let start = reader.offset
            let nextType = IKEv2PayloadType(rawValue: try reader.expectUInt8("payload next payload"))
            let flags = try reader.expectUInt8("payload flags")
            let length = Int(try reader.expectUInt16("payload length"))
            guard length >= genericHeaderSize else {
                throw WireError(.lengthMismatch, at: start + 2, "payload length \(length) below the header size")
            }
            guard var body = reader.readSubReader(length - genericHeaderSize) else {
                throw WireError(
                    .lengthMismatch,
                    at: start + 2,
                    "payload length \(length) beyond the \(reader.remaining + 4) bytes left"
                )
            }
            let isCritical = flags & criticalBit != 0
            let payload = try self.decodeBody(
                type: currentType,
                nextType: nextType,
                isCritical: isCritical,
                body: &body,
                start: start
            )
            try body.expectAtEnd("a payload body")
            payloads.append(payload)
            if payload.endsChain {
                guard allowsEncrypted else {
                    throw WireError(.invalidValue, at: start, "encrypted payload inside an encrypted payload")
                }
                try reader.expectAtEnd("an encrypted payload, which must be last")
                return payloads
            }
            currentType = nextType
        }
        try reader.expectAtEnd("the last payload")
        return payloads
    }

    private static func decodeBody(
        type: IKEv2PayloadType,
        nextType: IKEv2PayloadType,
        isCritical: Bool,
        body: inout WireReader,
        start: Int
    ) throws(WireError) -> IKEv2Payload {
        switch type {
        case .securityAssociation: return .securityAssociation(try .init(parsing: &body))
        case .keyExchange: return .keyExchange(try .init(parsing: &body))
        case .identificationInitiator: return .identificationInitiator(try .init(parsing: &body))
        case .identificationResponder: return .identificationResponder(try .init(parsing: &body))
        case .certificate: return .certificate(try .init(parsing: &body))
        case .certificateRequest: return .certificateRequest(try .init(parsing: &body))
        case .authentication: return .authentication(try .init(parsing: &body))
        case .nonce: return .nonce(try .init(parsing: &body))
        case .notify: return .notify(try .init(parsing: &body))
        case .delete: return .delete(try .init(parsing: &body))
        case .vendorID: return .vendorID(try .init(parsing: &body))
        case .trafficSelectorInitiator: return .trafficSelectorInitiator(try .init(parsing: &body))
        case .trafficSelectorResponder: return .trafficSelectorResponder(try .init(parsing: &body))
        case .configuration: return .configuration(try .init(parsing: &body))
        case .eap: return .eap(try .init(parsing: &body))
        case .encrypted:
            let payload = IKEv2EncryptedPayload(firstInnerPayloadType: nextType, body: Array(body.readRemaining()))
            return .encrypted(payload)
        case .encryptedFragment:
            let payload = try IKEv2EncryptedFragmentPayload(firstInnerPayloadType: nextType, parsing: &body)
            return .encryptedFragment(payload)
        default:
            guard !isCritical else {
                throw WireError(
                    .unsupportedCriticalPayload,
                    at: start,
                    "unknown critical payload type \(type.rawValue)",
                    value: UInt32(type.rawValue)
                )
            }
            let payload = IKEv2UnknownPayload(payloadType: type, isCritical: false, body: Array(body.readRemaining()))
            return .unknown(payload)
        }
    }

    /// Serializes a payload chain. The first payload's type is `payloads.first?.payloadType`.
    ///
    /// - Precondition: an SK or SKF payload may only be last; every payload fits in 65535 bytes.
    public static func serialize(_ payloads: [IKEv2Payload]) -> [UInt8] {
        var writer = WireWriter()
        self.serialize(payloads, into: &writer)
        return writer.bytes
    }

    /// Appends a serialized payload chain to `writer`.
    public static func serialize(_ payloads: [IKEv2Payload], into writer: inout WireWriter) {
        for (index, payload) in payloads.enumerated() {
            let isLast = index == payloads.count - 1
            precondition(isLast || !payload.endsChain, "SK/SKF must be the last payload")
            let nextType: IKEv2PayloadType
            switch payload {
            case .encrypted(let sk): nextType = sk.firstInnerPayloadType
            case .encryptedFragment(let skf): nextType = skf.firstInnerPayloadType
            default: nextType = isLast ? .none : payloads[index + 1].payloadType
            }
            let start = writer.count
            writer.writeUInt8(nextType.rawValue)
            var flags: UInt8 = 0
            if case .unknown(let unknown) = payload, unknown.isCritical {
                flags = criticalBit
            }
            writer.writeUInt8(flags)
            let lengthPosition = writer.reserveUInt16()
            self.serializeBody(payload, into: &writer)
            writer.patchLength16(at: lengthPosition, from: start)
        }
    }

    private static func serializeBody(_ payload: IKEv2Payload, into writer: inout WireWriter) {
        switch payload {
        case .securityAssociation(let body): body.serializeBody(into: &writer)
        case .keyExchange(let body): body.serializeBody(into: &writer)
        case .identificationInitiator(let body): body.serializeBody(into: &writer)
        case .identificationResponder(let body): body.serializeBody(into: &writer)
        case .certificate(let body): body.serializeBody(into: &writer)
        case .certificateRequest(let body): body.serializeBody(into: &writer)
        case .authentication(let body): body.serializeBody(into: &writer)
        case .nonce(let body): body.serializeBody(into: &writer)
        case .notify(let body): body.serializeBody(into: &writer)
        case .delete(let body): body.serializeBody(into: &writer)
        case .vendorID(let body): body.serializeBody(into: &writer)
        case .trafficSelectorInitiator(let body): body.serializeBody(into: &writer)
        case .trafficSelectorResponder(let body): body.serializeBody(into: &writer)
        case .configuration(let body): body.serializeBody(into: &writer)
        case .eap(let body): body.serializeBody(into: &writer)
        case .encrypted(let body): writer.writeBytes(body.body)
        case .encryptedFragment(let body): body.serializeBody(into: &writer)
        case .unknown(let body): writer.writeBytes(body.body)
        }
    }
}
