import IsthmusIP

/// What the SPD needs from an inner (tunnelled) IP packet: addresses, protocol and ports
/// (RFC 4301 section 4.4.1.1 selectors), read from the header without copying or allocating.
public struct InnerPacket: Sendable, Hashable {
    /// IP protocol numbers the parser knows about.
    public enum ProtocolNumber {
        /// Hop-by-hop options (RFC 8200 section 4.3).
        public static let hopByHop: UInt8 = 0
        public static let icmp: UInt8 = 1
        /// IPv4 in IP: ESP Next Header for an IPv4 inner packet (RFC 4303 section 2.6).
        public static let ipv4: UInt8 = 4
        public static let tcp: UInt8 = 6
        public static let udp: UInt8 = 17
        /// IPv6 in IP: ESP Next Header for an IPv6 inner packet.
        public static let ipv6: UInt8 = 41
        /// Routing header (RFC 8200 section 4.4).
        public static let routing: UInt8 = 43
        /// Fragment header (RFC 8200 section 4.5).
        public static let fragment: UInt8 = 44
        /// Destination options (RFC 8200 section 4.6).
        public static let destinationOptions: UInt8 = 60
        public static let sctp: UInt8 = 132
    }

    /// IPv4 header without options (RFC 791).
    static let ipv4HeaderLength = 20
    /// The fixed IPv6 header (RFC 8200 section 3).
    static let ipv6HeaderLength = 40
    /// Extension headers walked at most before the upper-layer protocol is considered unknown:
    /// a bound on work per packet against chains of empty options headers.
    static let maximumExtensionHeaders = 8
    /// The largest IP packet (IPv4 Total Length, IPv6 without jumbograms: RFC 2675 is not supported).
    public static let maximumLength = 65_535

    public var family: IPFamily
    public var source: IPAddress
    public var destination: IPAddress
    /// The upper-layer protocol (after IPv6 extension headers), or the last header seen.
    public var ipProtocol: UInt8
    /// TCP, UDP or SCTP ports; `nil` for other protocols and non-first fragments (RFC 4301
    /// section 4.4.1.1: OPAQUE; such packets match any port range).
    public var sourcePort: UInt16?
    public var destinationPort: UInt16?
    /// The length the IP header announces; bytes beyond it are TFC padding (RFC 4303 section 2.7).
    public var length: Int

    /// Parses the header of an IPv4 or IPv6 packet; `nil` when it is not a well-formed one whose
    /// announced length fits in `bytes`.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> InnerPacket? {
        guard bytes.count >= 1 else { return nil }
        switch bytes[0] >> 4 {
        case 4: return parseIPv4(bytes)
        case 6: return parseIPv6(bytes)
        default: return nil
        }
    }

    private static func parseIPv4(_ bytes: UnsafeRawBufferPointer) -> InnerPacket? {
        guard bytes.count >= ipv4HeaderLength else { return nil }
        let headerLength = Int(bytes[0] & 0x0f) * 4
        let totalLength = Int(load16(bytes, 2))
        guard headerLength >= ipv4HeaderLength, totalLength >= headerLength, totalLength <= bytes.count else {
            return nil
        }
        let fragmentOffset = load16(bytes, 6) & 0x1fff
        let ipProtocol = bytes[9]
        let source = IPAddress(v4: load32(bytes, 12))
        let destination = IPAddress(v4: load32(bytes, 16))
        var packet = InnerPacket(
            family: .v4, source: source, destination: destination, ipProtocol: ipProtocol, sourcePort: nil,
            destinationPort: nil, length: totalLength)
        if fragmentOffset == 0 {
            packet.readPorts(bytes, at: headerLength, end: totalLength)
        }
        return packet
    }

    private static func parseIPv6(_ bytes: UnsafeRawBufferPointer) -> InnerPacket? {
        guard bytes.count >= ipv6HeaderLength else { return nil }
        let payloadLength = Int(load16(bytes, 4))
        let totalLength = ipv6HeaderLength + payloadLength
        guard totalLength <= bytes.count else { return nil }
        var next = bytes[6]
        let source = IPAddress(family: .v6, value: load128(bytes, 8))
        let destination = IPAddress(family: .v6, value: load128(bytes, 24))
        var offset = ipv6HeaderLength
        var firstFragment = true
        var headers = 0
        walk: while headers < maximumExtensionHeaders {
            headers += 1
            switch next {
            case ProtocolNumber.hopByHop, ProtocolNumber.routing, ProtocolNumber.destinationOptions:
                guard offset + 2 <= totalLength else { break walk }
                let length = (Int(bytes[offset + 1]) + 1) * 8
                next = bytes[offset]
                offset += length
            case ProtocolNumber.fragment:
                guard offset + 8 <= totalLength else { break walk }
                next = bytes[offset]
                if load16(bytes, offset + 2) & 0xfff8 != 0 { firstFragment = false }
                offset += 8
            default:
                break walk
            }
        }
        var packet = InnerPacket(
            family: .v6, source: source, destination: destination, ipProtocol: next, sourcePort: nil,
            destinationPort: nil, length: totalLength)
        if firstFragment {
            packet.readPorts(bytes, at: offset, end: totalLength)
        }
        return packet
    }

    /// Reads source and destination ports of TCP, UDP and SCTP when the first 4 bytes are present.
    private mutating func readPorts(_ bytes: UnsafeRawBufferPointer, at offset: Int, end: Int) {
        switch ipProtocol {
        case ProtocolNumber.tcp, ProtocolNumber.udp, ProtocolNumber.sctp:
            guard offset + 4 <= end else { return }
            sourcePort = InnerPacket.load16(bytes, offset)
            destinationPort = InnerPacket.load16(bytes, offset + 2)
        default:
            return
        }
    }

    private static func load16(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    private static func load32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    private static func load128(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt128 {
        let high = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        let low = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
        return UInt128(high) << 64 | UInt128(low)
    }

    /// Whether the packet goes from inside `sources` to inside `destinations` (RFC 4301 section
    /// 4.4.1: the source matches a selector of the sending side, the destination one of the other).
    func matches(sources: [TrafficSelector], destinations: [TrafficSelector]) -> Bool {
        InnerPacket.anyContains(sources, source, ipProtocol, sourcePort)
            && InnerPacket.anyContains(destinations, destination, ipProtocol, destinationPort)
    }

    /// Index loop rather than `contains(where:)`: unspecialised generic algorithms allocate in debug builds.
    private static func anyContains(
        _ selectors: [TrafficSelector], _ address: IPAddress, _ ipProtocol: UInt8, _ port: UInt16?
    ) -> Bool {
        var index = 0
        while index < selectors.count {
            if selectors[index].contains(address, ipProtocol: ipProtocol, port: port) { return true }
            index += 1
        }
        return false
    }
}
