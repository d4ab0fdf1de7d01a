// libFuzzer harness for the IKEv2 parsers (RFC 7296): message, and the input as an inner chain.
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
    }
    if let first = bytes.first {
        if let payloads = try? IKEv2PayloadChain.parse(
            bytes.dropFirst(),
            firstPayloadType: IKEv2PayloadType(rawValue: first)
        ) {
            let chain = IKEv2PayloadChain.serialize(payloads)
            let back = try? IKEv2PayloadChain.parse(chain[...], firstPayloadType: payloads.first?.payloadType ?? .none)
            precondition(back == payloads, "IKEv2 chain round trip mismatch")
        }
    }
    return 0
}
