import CIsthmusChecksum

/// The virtio-net header that a TUN device opened with `IFF_VNET_HDR` puts before every packet it hands
/// over and expects before every packet written to it (`struct virtio_net_hdr`, 10 bytes, host byte
/// order: the TUN's default, linux/virtio_net.h). With TSO enabled on the TUN (`TUNSETOFFLOAD`) the kernel hands over TCP
/// "super-packets" of up to 64 KiB with one header each instead of one read per segment.
public struct VirtioNetHeader: Sendable, Hashable {
    public static let size = 10
    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the transport checksum is partial (pseudo-header only).
    public static let needsChecksum: UInt8 = 1
    /// `VIRTIO_NET_HDR_GSO_*`.
    public static let gsoNone: UInt8 = 0
    public static let gsoTCPv4: UInt8 = 1
    public static let gsoTCPv6: UInt8 = 4
    public static let gsoECN: UInt8 = 0x80

    public var flags: UInt8
    public var gsoType: UInt8
    public var headerLength: UInt16
    public var gsoSize: UInt16
    public var checksumStart: UInt16
    public var checksumOffset: UInt16

    /// Reads the header at the start of `bytes` (at least ``size`` bytes).
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.size else { return nil }
        func read16(_ offset: Int) -> UInt16 { bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self) }
        flags = bytes[0]
        gsoType = bytes[1]
        headerLength = read16(2)
        gsoSize = read16(4)
        checksumStart = read16(6)
        checksumOffset = read16(8)
    }

    /// Whether the packet is a TCP super-packet to be cut into `gsoSize` segments.
    public var isTCPSegmentation: Bool {
        let type = gsoType & ~Self.gsoECN
        return (type == Self.gsoTCPv4 || type == Self.gsoTCPv6) && gsoSize > 0
    }
}

/// TCP segmentation in user space (what a NIC does for TSO), into a separate output buffer and without
/// allocation, plus the completion of partial checksums the kernel leaves to "hardware".
public enum TCPSegmentation {
    /// Finishes a partial transport checksum (`VIRTIO_NET_HDR_F_NEEDS_CSUM`): the field at `start +
    /// offset` holds the pseudo-header sum; the checksum of everything from `start` replaces it.
    /// - Returns: `false` when the offsets do not fit the packet (it must then be dropped).
    @discardableResult
    public static func completeChecksum(_ packet: UnsafeMutableRawBufferPointer, start: Int, offset: Int) -> Bool {
        guard start >= 0, offset >= 0, start + offset + 2 <= packet.count else { return false }
        let sum = InternetChecksum.networkOrderSum(UnsafeRawBufferPointer(rebasing: packet[start...]))
        let value = ~InternetChecksum.fold(sum)
        packet[start + offset] = UInt8(value >> 8)
        packet[start + offset + 1] = UInt8(value & 0xFF)
        return true
    }

    /// The layout of a TCP super-packet: where the TCP header starts, where the payload starts.
    public struct Layout: Sendable, Hashable {
        public var ipv6: Bool
        public var tcpOffset: Int
        public var payloadOffset: Int
        public var payloadLength: Int
    }

    /// The layout of an IPv4 or IPv6 (no extension headers) TCP packet; nil otherwise.
    public static func layout(_ packet: UnsafeRawBufferPointer) -> Layout? {
        guard packet.count >= 1 else { return nil }
        let ipv6: Bool
        let tcp: Int
        switch packet[0] >> 4 {
        case 4:
            guard packet.count >= 20, packet[9] == 6 else { return nil }
            tcp = Int(packet[0] & 0x0F) * 4
            guard tcp >= 20 else { return nil }
            ipv6 = false
        case 6:
            guard packet.count >= 40, packet[6] == 6 else { return nil }
            tcp = 40
            ipv6 = true
        default:
            return nil
        }
        guard packet.count >= tcp + 20 else { return nil }
        let payload = tcp + Int(packet[tcp + 12] >> 4) * 4
        guard payload >= tcp + 20, payload <= packet.count else { return nil }
        return Layout(ipv6: ipv6, tcpOffset: tcp, payloadOffset: payload, payloadLength: packet.count - payload)
    }

    /// How many segments of at most `segmentSize` payload bytes the packet makes.
    public static func segmentCount(_ layout: Layout, segmentSize: Int) -> Int {
        guard segmentSize > 0 else { return 0 }
        return max(1, (layout.payloadLength + segmentSize - 1) / segmentSize)
    }

    /// Writes segment `index` of the super-packet into `output` (headers copied and fixed: lengths,
    /// IPv4 identification and header checksum, sequence number, FIN/PSH only on the last segment and
    /// CWR only on the first, a complete TCP checksum).
    /// - Returns: the segment's length, or nil when `output` is too small or `index` out of range.
    public static func writeSegment(
        _ index: Int, of packet: UnsafeRawBufferPointer, layout: Layout, segmentSize: Int,
        into output: UnsafeMutableRawBufferPointer
    ) -> Int? {
        let count = segmentCount(layout, segmentSize: segmentSize)
        guard index >= 0, index < count else { return nil }
        let payloadStart = index * segmentSize
        let payloadLength = min(segmentSize, layout.payloadLength - payloadStart)
        let headers = layout.payloadOffset
        let total = headers + payloadLength
        guard output.count >= total, payloadLength >= 0 else { return nil }
        // The payload is copied with memcpy semantics: the output must not overlap the super-packet.
        assert(
            output.baseAddress! + total <= packet.baseAddress!
                || packet.baseAddress! + packet.count <= output.baseAddress!,
            "segment output overlaps its super-packet")
        output.baseAddress!.copyMemory(from: packet.baseAddress!, byteCount: headers)
        // The payload is summed as it is copied; the TCP header (an even length, so the two sums add up)
        // is summed once its fields are fixed.
        let payloadSum = InternetChecksum.copyAndSum(
            UnsafeRawBufferPointer(
                rebasing: packet[(headers + payloadStart)..<(headers + payloadStart + payloadLength)]),
            to: output.baseAddress! + headers)
        let tcp = layout.tcpOffset
        if layout.ipv6 {
            write16(output, 4, UInt16(total - 40))
        } else {
            write16(output, 2, UInt16(total))
            write16(output, 4, read16(output, 4) &+ UInt16(truncatingIfNeeded: index))
            write16(output, 10, 0)
            let header = InternetChecksum.networkOrderSum(UnsafeRawBufferPointer(rebasing: output[0..<tcp]))
            write16(output, 10, ~InternetChecksum.fold(header))
        }
        let sequence = read32(output, tcp + 4) &+ UInt32(truncatingIfNeeded: payloadStart)
        write32(output, tcp + 4, sequence)
        if index != count - 1 { output[tcp + 13] &= ~0x09 }  // FIN and PSH: last segment only
        if index != 0 { output[tcp + 13] &= ~0x80 }  // CWR: first segment only
        write16(output, tcp + 16, 0)
        var sum = InternetChecksum.networkOrderSum(UnsafeRawBufferPointer(rebasing: output[tcp..<headers]))
        sum &+= payloadSum
        // Pseudo-header: addresses, protocol 6, TCP length.
        let addresses = layout.ipv6 ? 8..<40 : 12..<20
        sum &+= InternetChecksum.networkOrderSum(UnsafeRawBufferPointer(rebasing: output[addresses]))
        sum &+= 6 &+ UInt64(total - tcp)
        write16(output, tcp + 16, ~InternetChecksum.fold(sum))
        return total
    }

    private static func read16(_ bytes: UnsafeMutableRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    private static func write16(_ bytes: UnsafeMutableRawBufferPointer, _ offset: Int, _ value: UInt16) {
        bytes[offset] = UInt8(value >> 8)
        bytes[offset + 1] = UInt8(value & 0xFF)
    }

    private static func read32(_ bytes: UnsafeMutableRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(read16(bytes, offset)) << 16 | UInt32(read16(bytes, offset + 2))
    }

    private static func write32(_ bytes: UnsafeMutableRawBufferPointer, _ offset: Int, _ value: UInt32) {
        write16(bytes, offset, UInt16(value >> 16))
        write16(bytes, offset + 2, UInt16(value & 0xFFFF))
    }
}

/// The Internet checksum (RFC 1071). The loop over the bytes is C (CIsthmusChecksum), vectorised with
/// AVX2 where the CPU has it: segmentation and merging sum every TCP payload byte once per packet.
public enum InternetChecksum {
    /// The one's-complement sum of `bytes` as 16-bit big-endian words, not yet folded or complemented.
    /// Sums may be added together (and with small big-endian values) before ``fold(_:)``.
    public static func networkOrderSum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        return networkOrder(isthmus_checksum_sum(base, bytes.count))
    }

    /// Copies `source` to the start of `destination` (at least as long; they must not overlap) and
    /// returns `networkOrderSum(source)`: one pass over the bytes instead of two.
    public static func copyAndSum(_ source: UnsafeRawBufferPointer, to destination: UnsafeMutableRawPointer) -> UInt64 {
        guard let base = source.baseAddress, source.count > 0 else { return 0 }
        return networkOrder(isthmus_checksum_copy(destination, base, source.count))
    }

    /// A native-order sum of native-order words, folded to 16 bits and turned to network order: the
    /// one's-complement sum is byte-order independent (RFC 1071 section 2(B)).
    static func networkOrder(_ nativeSum: UInt64) -> UInt64 {
        let folded = fold(nativeSum)
        return UInt64(folded.littleEndian == folded ? folded.byteSwapped : folded)
    }

    /// Folds a sum to 16 bits with end-around carry.
    public static func fold(_ sum: UInt64) -> UInt16 {
        var value = sum
        while value >> 16 != 0 { value = (value & 0xFFFF) &+ (value >> 16) }
        return UInt16(value)
    }
}
