// libFuzzer harness for the IKEv2 parsers (RFC 7296): message, and the input as an inner chain; the typed
// contents of what parses (CERT, CERTREQ, RFC 7427 AUTH, SIGNATURE_HASH_ALGORITHMS, CP attribute values) too.
// Built together with Sources/IsthmusWire by run.sh; see README.md.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIKEv2(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    if let message = try? IKEv2Message.parse(bytes) {
        // Whatever parses must serialize to something that parses back to the same value.
        let again = message.serialize()
        guard let reparsed = try? IKEv2Message.parse(again), reparsed == message else {
            preconditionFailure("IKEv2 round trip mismatch")
        }
        precondition(reparsed.serialize() == again, "IKEv2 serialization not stable")
        decodeContents(message.payloads)
    }
    if let first = bytes.first {
        if let payloads = try? IKEv2PayloadChain.parse(
            bytes.dropFirst(),
            firstPayloadType: IKEv2PayloadType(rawValue: first)
        ) {
            let chain = IKEv2PayloadChain.serialize(payloads)
            let back = try? IKEv2PayloadChain.parse(chain[...], firstPayloadType: payloads.first?.payloadType ?? .none)
            precondition(back == payloads, "IKEv2 chain round trip mismatch")
            decodeContents(payloads)
        }
    }
    return 0
}

/// What the cores decode inside payloads: each decoder throws WireError on garbage, never traps; a decoded
/// signature AUTH serializes back to the same bytes.
func decodeContents(_ payloads: [IKEv2Payload]) {
    for payload in payloads {
        switch payload {
        case .certificate(let cert): _ = try? IKEv2CertificateContent(parsing: cert)
        case .certificateRequest(let request): _ = try? IKEv2CertificateAuthorities(parsing: request)
        case .authentication(let auth) where auth.method == .digitalSignature:
            if let signature = try? IKEv2DigitalSignature(parsing: auth.data) {
                precondition(signature.bytes == auth.data, "RFC 7427 AUTH round trip mismatch")
            }
        case .notify(let notify) where notify.notifyType == .signatureHashAlgorithms:
            _ = try? IKEv2HashAlgorithm.parseList(notify.data)
        case .configuration(let cp):
            for attribute in cp.attributes {
                _ = try? attribute.ipv4Value()
                _ = try? attribute.ipv6Value()
                _ = try? attribute.ipv4SubnetValue()
            }
        default: break
        }
    }
}
