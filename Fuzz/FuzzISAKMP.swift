// libFuzzer harness for the ISAKMP/IKEv1 parsers (RFC 2408): message, and the input as a
// decrypted body with padding. Built together with Sources/IsthmusWire by run.sh; see README.md.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzISAKMP(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    if let message = try? ISAKMPMessage.parse(bytes) {
        let again = message.serialize()
        guard let reparsed = try? ISAKMPMessage.parse(again), reparsed == message else {
            preconditionFailure("ISAKMP round trip mismatch")
        }
        precondition(reparsed.serialize() == again, "ISAKMP serialization not stable")
    }
    if let first = bytes.first {
        let type = ISAKMPPayloadType(rawValue: first)
        if let payloads = try? ISAKMPPayloadChain.parseDecrypted(bytes.dropFirst(), firstPayloadType: type) {
            let chain = ISAKMPPayloadChain.serialize(payloads)
            let back = try? ISAKMPPayloadChain.parse(chain[...], firstPayloadType: payloads.first?.payloadType ?? .none)
            precondition(back == payloads, "ISAKMP chain round trip mismatch")
        }
    }
    return 0
}
