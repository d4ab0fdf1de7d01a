// libFuzzer harness for the EAP parsers (RFC 3748) and EAP-MSCHAPv2 messages (draft-kamath-pppext-eap-mschapv2):
// the input as one EAP packet, its MSCHAPv2 data when it is of type 26, and the input itself as MSCHAPv2 data
// both ways (request and response). Built together with Sources/IsthmusWire by run.sh; see README.md.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEAP(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    if let packet = try? EAPPacket(parsing: bytes) {
        // A packet that parses is its own serialization.
        precondition(packet.serialize() == bytes, "EAP serialization differs from the input")
        if packet.type == .mschapv2 {
            checkMSCHAPv2(packet.data, isRequest: packet.code == .request)
        }
    }
    checkMSCHAPv2(bytes, isRequest: true)
    checkMSCHAPv2(bytes, isRequest: false)
    return 0
}

/// Whatever parses serializes to something that parses back to the same value.
func checkMSCHAPv2(_ data: [UInt8], isRequest: Bool) {
    guard let message = try? MSCHAPv2Packet(parsing: data, isRequest: isRequest) else { return }
    let again = message.serialize()
    guard let reparsed = try? MSCHAPv2Packet(parsing: again, isRequest: isRequest), reparsed == message else {
        preconditionFailure("MSCHAPv2 round trip mismatch")
    }
}
