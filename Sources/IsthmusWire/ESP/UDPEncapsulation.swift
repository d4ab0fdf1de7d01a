/// Classification of datagrams received on the NAT-T port 4500 (RFC 3948 section 2, section 3).
public enum UDPEncapsulation {
    /// The NAT-T UDP port (RFC 3948 section 1).
    public static let port: UInt16 = 4500
    /// The length of the non-ESP marker that precedes IKE messages on port 4500 (RFC 3948 section 2.2).
    public static let nonESPMarkerLength = 4
    /// The single byte of a NAT-keepalive packet (RFC 3948 section 2.3).
    public static let keepaliveByte: UInt8 = 0xFF

    /// What a datagram on port 4500 carries.
    public enum Packet: Hashable, Sendable {
        /// An IKE message that starts at `payloadOffset` (after the 4-byte non-ESP marker).
        case ike(payloadOffset: Int)
        /// A NAT-keepalive: drop it (RFC 3948 section 2.3).
        case natKeepalive
        /// An ESP packet with a non-zero SPI; ESP starts at offset 0.
        case esp(spi: UInt32)
        /// Too short or otherwise impossible; drop it.
        case invalid
    }

    /// Classifies a UDP payload received on port 4500 without copying or allocating.
    ///
    /// A single 0xFF byte is a keepalive; four zero bytes first are the non-ESP marker of IKE;
    /// anything else of at least 8 bytes is ESP (its SPI is non-zero since the marker did not match).
    @inlinable
    public static func classify(_ datagram: UnsafeRawBufferPointer) -> Packet {
        if datagram.count == 1 {
            return datagram[0] == keepaliveByte ? .natKeepalive : .invalid
        }
        guard datagram.count >= nonESPMarkerLength else { return .invalid }
        let first = UInt32(bigEndian: datagram.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        if first == 0 {
            return .ike(payloadOffset: nonESPMarkerLength)
        }
        guard datagram.count >= ESPHeader.size else { return .invalid }
        return .esp(spi: first)
    }
}
