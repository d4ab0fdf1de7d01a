/// Parsing and serializing a chain of IKEv2 payloads linked by Next Payload fields
/// (RFC 7296 section 3.2).
///
/// The chain is framed before any payload is decoded: each generic header's length is checked
/// against the bytes left, the count against ``WireLimits/maximumPayloadCount``, and the chain
/// must end exactly at the end of the input. An SK or SKF payload ends the chain.
public enum IKEv2PayloadChain {
    /// The size of the generic payload header.
    public static let genericHeaderSize = GenericPayloadHeader.size

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
        let payloads = try PayloadChain.parse(
            from: &reader,
            firstPayloadType: firstPayloadType
        ) { type, header, body throws(WireError) in
            let payload = try self.decodeBody(type: type, header: header, body: &body)
            guard allowsEncrypted || !payload.endsChain else {
                throw WireError(.invalidValue, at: header.start, "encrypted payload inside an encrypted payload")
            }
            return payload
        }
        if payloads.last?.endsChain == true {
            try reader.expectAtEnd("an encrypted payload, which must be last")
        } else {
            try reader.expectAtEnd("the last payload")
        }
        return payloads
    }

    private static func decodeBody(
        type: IKEv2PayloadType,
        header: GenericPayloadHeader,
        body: inout WireReader
    ) throws(WireError) -> IKEv2Payload {
        let nextType = IKEv2PayloadType(rawValue: header.nextPayload)
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
            guard header.flags & criticalBit == 0 else {
                throw WireError(
                    .unsupportedCriticalPayload, at: header.start,
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
        PayloadChain.serialize(payloads, into: &writer)
    }
}
