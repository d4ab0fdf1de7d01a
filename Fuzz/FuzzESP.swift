// libFuzzer harness for the ESP / NAT-T helpers (RFC 4303, RFC 3948).
// Built together with Sources/IsthmusWire by run.sh; see README.md.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzESP(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let buffer = UnsafeRawBufferPointer(start: start, count: count)
    switch UDPEncapsulation.classify(buffer) {
    case .esp(let spi):
        let header = ESPHeader.parse(buffer)
        precondition(header?.spi == spi, "classify and ESPHeader.parse disagree")
    case .ike(let offset):
        _ = try? IKEv2Header.parse(Array(buffer[offset...])[...])
    case .natKeepalive, .invalid:
        break
    }
    if let trailer = try? ESPTrailer.parse(buffer) {
        precondition(trailer.payloadLength + Int(trailer.padLength) + ESPTrailer.size == count, "trailer arithmetic")
        // Rebuilding the trailer from its fields must give back the same bytes.
        var copy = Array(buffer)
        let total = copy.withUnsafeMutableBytes { out in
            try? ESPTrailer.write(
                into: out,
                payloadLength: trailer.payloadLength,
                padLength: Int(trailer.padLength),
                nextHeader: trailer.nextHeader
            )
        }
        precondition(total == count && copy == Array(buffer), "trailer write mismatch")
    }
    return 0
}
