/// A payload type, the value of a Next Payload field (RFC 2408 section 3.1, RFC 7296 section 3.2).
protocol PayloadTypeCode: OctetCode {
    /// No Next Payload (0): the chain ends.
    static var none: Self { get }
}

/// One payload of a chain linked by Next Payload fields, as ``IKEv2Payload`` and ``ISAKMPPayload`` are.
protocol ChainedPayload {
    associatedtype PayloadType: PayloadTypeCode

    /// The payload type written in the previous payload's Next Payload field.
    var payloadType: PayloadType { get }
    /// For a payload that ends the chain (IKEv2's SK and SKF, RFC 7296 section 3.14), the type of the
    /// first payload inside it, which its own Next Payload field names; `nil` for any other payload.
    var firstInnerPayloadType: PayloadType? { get }
    /// The second octet of the generic payload header.
    var headerFlags: UInt8 { get }
    /// Appends the payload body, everything after the generic payload header.
    func serializeBody(into writer: inout WireWriter)
}

extension ChainedPayload {
    var firstInnerPayloadType: PayloadType? { nil }
    var headerFlags: UInt8 { 0 }

    /// Whether this payload ends the chain: its Next Payload field names the first payload inside it
    /// instead of a following one.
    var endsChain: Bool { self.firstInnerPayloadType != nil }
}

/// Walking and writing a payload chain, the same in both versions (RFC 2408 section 3.2, RFC 7296
/// section 3.2): each payload's generic header names the type of the next, the last names None (0).
///
/// The chain is framed before any payload is decoded: each generic header's length is checked against
/// the bytes left and the count against ``WireLimits/maximumPayloadCount``.
enum PayloadChain {
    /// Reads payloads from the first, of type `firstPayloadType`, until one names None as the next or
    /// ends the chain, and leaves `reader` after it: the caller checks what may follow.
    ///
    /// - Parameter decode: decodes the body of a payload of the given type, read from a reader bounded
    ///   to exactly that body, which it must consume (the chain rejects unconsumed bytes).
    static func parse<Payload: ChainedPayload>(
        from reader: inout WireReader,
        firstPayloadType: Payload.PayloadType,
        decode: (Payload.PayloadType, GenericPayloadHeader, inout WireReader) throws(WireError) -> Payload
    ) throws(WireError) -> [Payload] {
        var payloads: [Payload] = []
        var currentType = firstPayloadType
        while currentType != .none {
            guard payloads.count < WireLimits.maximumPayloadCount else {
                throw WireError(
                    .tooManyPayloads, at: reader.offset,
                    "more than \(WireLimits.maximumPayloadCount) payloads"
                )
            }
            var (header, body) = try GenericPayloadHeader.read(from: &reader, "payload")
            let payload = try decode(currentType, header, &body)
            try body.expectAtEnd("a payload body")
            payloads.append(payload)
            if payload.endsChain {
                break
            }
            currentType = Payload.PayloadType(rawValue: header.nextPayload)
        }
        return payloads
    }

    /// Appends the payloads, each with a generic header naming the next one's type.
    ///
    /// - Precondition: only the last payload may end the chain; every payload fits in 65535 bytes.
    static func serialize<Payload: ChainedPayload>(_ payloads: [Payload], into writer: inout WireWriter) {
        for (index, payload) in payloads.enumerated() {
            let isLast = index == payloads.count - 1
            precondition(isLast || !payload.endsChain, "a payload that ends the chain must be last")
            let nextType = payload.firstInnerPayloadType ?? (isLast ? .none : payloads[index + 1].payloadType)
            GenericPayloadHeader.write(
                nextPayload: nextType.rawValue,
                flags: payload.headerFlags,
                into: &writer,
                body: payload.serializeBody(into:)
            )
        }
    }
}
