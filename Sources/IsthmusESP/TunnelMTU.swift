import IsthmusCrypto
import IsthmusIP

/// MTU handling for tunnel traffic, in place and without allocation: TCP MSS clamping (both ways),
/// the DF check, and the ICMP message that tells a sender its packet was too big for the tunnel
/// (ICMPv4 fragmentation needed, RFC 792 / RFC 1191; ICMPv6 Packet Too Big, RFC 4443 section 3.2).
///
/// Inner TTL / hop limit is left to the kernel: it decrements it when it routes a packet into the TUN
/// and again when it forwards a decapsulated packet out of it, and answers expiry with ICMP time
/// exceeded; the ESP engine never changes it (RFC 4301 section 5.1.2: the outer header's TTL is the
/// sending stack's).
public enum TunnelMTU {
    /// The worst-case bytes ESP adds to an inner packet: header 8, IV 16 (AES-CBC), padding 15 and
    /// trailer 2, ICV 32 (HMAC-SHA2-512-256).
    public static let worstCaseESPOverhead = 8 + 16 + 15 + 2 + 32
    /// IPv4 header plus UDP header (ESP in UDP, RFC 3948).
    public static let outerIPv4UDPOverhead = 20 + 8
    /// IPv6 header plus UDP header.
    public static let outerIPv6UDPOverhead = 40 + 8
    /// IPv6's minimum link MTU (RFC 8200 section 5): never announce less.
    public static let minimumIPv6MTU = 1280
    /// The smallest MTU announced for IPv4 (RFC 791's 68 is useless in practice; Linux uses 552).
    public static let minimumIPv4MTU = 552

    /// The largest inner packet that fits in one outer packet of `pathMTU` bytes whatever the suite.
    public static func innerMTU(pathMTU: Int, outerIPv6: Bool = false) -> Int {
        pathMTU - (outerIPv6 ? outerIPv6UDPOverhead : outerIPv4UDPOverhead) - worstCaseESPOverhead
    }

    /// The most bytes ESP adds to an inner packet with one suite (RFC 4303 section 2): header 8, the IV
    /// (8 for AES-GCM and ChaCha20-Poly1305, RFC 4106 section 3.1 and RFC 7634 section 3; the block for
    /// CBC), padding up to the block less one (4-byte alignment for the AEADs), Pad Length and Next Header
    /// 2, and the ICV. Unknown ciphers count as the worst case.
    public static func espOverhead(encryption: Algorithm, integrity: Algorithm?) -> Int {
        let iv: Int
        let block: Int
        switch encryption.ikev2ID {
        case CryptoSuites.EncryptionID.aesCBC: (iv, block) = (16, 16)
        case CryptoSuites.EncryptionID.des, CryptoSuites.EncryptionID.tripleDES: (iv, block) = (8, 8)
        case CryptoSuites.EncryptionID.aesGCM8, CryptoSuites.EncryptionID.aesGCM12,
            CryptoSuites.EncryptionID.aesGCM16, CryptoSuites.EncryptionID.chaCha20Poly1305:
            (iv, block) = (8, 4)
        default: return worstCaseESPOverhead
        }
        let icv = encryption.isAEAD ? encryption.icvBytes : integrity?.icvBytes ?? 0
        return 8 + iv + (block - 1) + 2 + icv
    }

    /// The MTU of a tunnel interface whose SAs may use any of `suites` (encryption, integrity): the path
    /// MTU less the outer IP and UDP headers (UDP counted even without NAT: the peer may move behind one)
    /// and the largest ESP overhead of the suites, never below IPv6's minimum.
    public static func interfaceMTU(
        pathMTU: Int, suites: [(encryption: Algorithm, integrity: Algorithm?)], outerIPv6: Bool = false
    ) -> Int {
        let esp =
            suites.map { espOverhead(encryption: $0.encryption, integrity: $0.integrity) }.max()
            ?? worstCaseESPOverhead
        return max(minimumIPv6MTU, pathMTU - (outerIPv6 ? outerIPv6UDPOverhead : outerIPv4UDPOverhead) - esp)
    }

    /// Whether the sender forbade fragmentation: IPv4 with DF set, and every IPv6 packet (routers never
    /// fragment IPv6). False for anything unparsable.
    public static func forbidsFragmentation(_ packet: UnsafeRawBufferPointer) -> Bool {
        guard packet.count >= 1 else { return false }
        switch packet[0] >> 4 {
        case 4: return packet.count >= 20 && packet[6] & 0x40 != 0
        case 6: return packet.count >= 40
        default: return false
        }
    }

    // MARK: MSS clamping

    /// Lowers the MSS option of a TCP SYN (or SYN-ACK) to `maximumSegmentSize` when it is larger, and
    /// fixes the TCP checksum incrementally (RFC 1624). IPv4 and IPv6 (no extension headers).
    /// - Returns: whether the packet was changed.
    @discardableResult
    public static func clampMSS(_ packet: UnsafeMutableRawBufferPointer, to maximumSegmentSize: Int) -> Bool {
        guard let tcp = tcpHeaderOffset(UnsafeRawBufferPointer(packet)), packet.count >= tcp + 20 else { return false }
        // SYN set (with or without ACK): only those carry MSS.
        guard packet[tcp + 13] & 0x02 != 0 else { return false }
        let headerLength = Int(packet[tcp + 12] >> 4) * 4
        guard headerLength > 20, tcp + headerLength <= packet.count else { return false }
        var option = tcp + 20
        let end = tcp + headerLength
        while option < end {
            let kind = packet[option]
            if kind == 0 { return false }  // end of option list
            if kind == 1 {  // no-operation
                option += 1
                continue
            }
            guard option + 1 < end else { return false }
            let length = Int(packet[option + 1])
            guard length >= 2, option + length <= end else { return false }
            if kind == 2 && length == 4 {
                let old = UInt16(packet[option + 2]) << 8 | UInt16(packet[option + 3])
                let limit = UInt16(clamping: max(maximumSegmentSize, 0))
                guard old > limit else { return false }
                packet[option + 2] = UInt8(limit >> 8)
                packet[option + 3] = UInt8(limit & 0xFF)
                // The MSS value is a 16-bit word at an even offset from the TCP header (2 + 2).
                let checksum = UInt16(packet[tcp + 16]) << 8 | UInt16(packet[tcp + 17])
                let updated = adjustChecksum(checksum, old: old, new: limit)
                packet[tcp + 16] = UInt8(updated >> 8)
                packet[tcp + 17] = UInt8(updated & 0xFF)
                return true
            }
            option += length
        }
        return false
    }

    /// Where the TCP header starts, for an unfragmented (first-fragment) IPv4 or an IPv6 TCP packet
    /// without extension headers; nil otherwise.
    static func tcpHeaderOffset(_ packet: UnsafeRawBufferPointer) -> Int? {
        guard packet.count >= 1 else { return nil }
        switch packet[0] >> 4 {
        case 4:
            guard packet.count >= 20, packet[9] == 6 else { return nil }
            // Fragment offset must be 0 (the TCP header is in the first fragment only).
            guard (UInt16(packet[6] & 0x1F) << 8 | UInt16(packet[7])) == 0 else { return nil }
            let headerLength = Int(packet[0] & 0x0F) * 4
            return headerLength >= 20 ? headerLength : nil
        case 6:
            guard packet.count >= 40, packet[6] == 6 else { return nil }
            return 40
        default:
            return nil
        }
    }

    /// RFC 1624 equation 3: HC' = ~(~HC + ~m + m').
    static func adjustChecksum(_ checksum: UInt16, old: UInt16, new: UInt16) -> UInt16 {
        var sum = UInt32(~checksum) + UInt32(~old) + UInt32(new)
        sum = (sum & 0xFFFF) + (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16)
        return ~UInt16(sum)
    }

    // MARK: Too big

    /// Writes into `output` the ICMP error that tells the sender of `original` to send packets of at
    /// most `mtu` bytes: ICMPv4 type 3 code 4 (with the next-hop MTU, RFC 1191) quoting the IPv4 header
    /// and 8 bytes, or ICMPv6 type 2 quoting as much as fits in 1280 bytes. The error comes from
    /// `source` (the gateway's address on the sender's side, or the address the packet was for).
    /// - Returns: the ICMP packet's length, or nil when `original` must not be answered (not IPv4/IPv6,
    ///   itself an ICMP error, a non-first fragment) or `output` is too small.
    public static func packetTooBig(
        original: UnsafeRawBufferPointer, mtu: Int, source: IPAddress? = nil, into output: UnsafeMutableRawBufferPointer
    ) -> Int? {
        guard original.count >= 1 else { return nil }
        switch original[0] >> 4 {
        case 4: return fragmentationNeeded(original: original, mtu: mtu, source: source, into: output)
        case 6: return packetTooBigV6(original: original, mtu: mtu, source: source, into: output)
        default: return nil
        }
    }

    private static func fragmentationNeeded(
        original: UnsafeRawBufferPointer, mtu: Int, source: IPAddress?, into output: UnsafeMutableRawBufferPointer
    ) -> Int? {
        let headerLength = Int(original[0] & 0x0F) * 4
        guard original.count >= 20, headerLength >= 20, original.count >= headerLength else { return nil }
        // Never answer a non-first fragment or an ICMP error (RFC 1122 section 3.2.2).
        guard (UInt16(original[6] & 0x1F) << 8 | UInt16(original[7])) == 0 else { return nil }
        if original[9] == 1, original.count > headerLength, ![0, 8, 13, 15, 17].contains(original[headerLength]) {
            return nil
        }
        let quoted = min(original.count, headerLength + 8)
        let total = 20 + 8 + quoted
        guard output.count >= total else { return nil }
        let from: UInt32
        if let source, source.family == .v4 {
            from = UInt32(truncatingIfNeeded: source.value)
        } else {
            from = read32(original, 16)  // the original destination
        }
        // IPv4 header.
        output[0] = 0x45
        output[1] = 0xC0  // DSCP CS6, as Linux sends ICMP errors
        write16(output, 2, UInt16(total))
        write16(output, 4, 0)
        write16(output, 6, 0)
        output[8] = 64
        output[9] = 1
        write16(output, 10, 0)
        write32(output, 12, from)
        write32(output, 16, read32(original, 12))  // back to the original source
        write16(output, 10, checksum(UnsafeRawBufferPointer(rebasing: output[0..<20])))
        // ICMP: type 3 code 4, unused 16 bits, next-hop MTU, then the quote.
        output[20] = 3
        output[21] = 4
        write16(output, 22, 0)
        write16(output, 24, 0)
        write16(output, 26, UInt16(clamping: max(mtu, minimumIPv4MTU)))
        for index in 0..<quoted { output[28 + index] = original[index] }
        write16(output, 22, checksum(UnsafeRawBufferPointer(rebasing: output[20..<total])))
        return total
    }

    private static func packetTooBigV6(
        original: UnsafeRawBufferPointer, mtu: Int, source: IPAddress?, into output: UnsafeMutableRawBufferPointer
    ) -> Int? {
        guard original.count >= 40 else { return nil }
        // Never answer an ICMPv6 error message (types below 128, RFC 4443 section 2.4 (e)).
        if original[6] == 58, original.count > 40, original[40] < 128 { return nil }
        let quoted = min(original.count, minimumIPv6MTU - 40 - 8)
        let total = 40 + 8 + quoted
        guard output.count >= total else { return nil }
        output[0] = 0x60
        output[1] = 0
        output[2] = 0
        output[3] = 0
        write16(output, 4, UInt16(8 + quoted))
        output[6] = 58
        output[7] = 64
        // Source: the given IPv6 address or the original destination; destination: the original source.
        if let source, source.family == .v6 {
            for index in 0..<16 { output[8 + index] = UInt8(truncatingIfNeeded: source.value >> (8 * (15 - index))) }
        } else {
            for index in 0..<16 { output[8 + index] = original[24 + index] }
        }
        for index in 0..<16 { output[24 + index] = original[8 + index] }
        output[40] = 2
        output[41] = 0
        write16(output, 42, 0)
        write32(output, 44, UInt32(clamping: max(mtu, minimumIPv6MTU)))
        for index in 0..<quoted { output[48 + index] = original[index] }
        // Checksum over the pseudo-header (addresses, length, next header) and the ICMPv6 message.
        var sum: UInt32 = 0
        var index = 8
        while index < 40 {
            sum &+= UInt32(output[index]) << 8 | UInt32(output[index + 1])
            index += 2
        }
        sum &+= UInt32(8 + quoted) + 58
        write16(output, 42, checksum(UnsafeRawBufferPointer(rebasing: output[40..<total]), initial: sum))
        return total
    }

    /// The Internet checksum (RFC 1071) of `bytes`, starting from a partial `initial` sum.
    static func checksum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt16 {
        ~InternetChecksum.fold(InternetChecksum.networkOrderSum(bytes) &+ UInt64(initial))
    }

    private static func read32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }

    private static func write16(_ bytes: UnsafeMutableRawBufferPointer, _ offset: Int, _ value: UInt16) {
        bytes[offset] = UInt8(value >> 8)
        bytes[offset + 1] = UInt8(value & 0xFF)
    }

    private static func write32(_ bytes: UnsafeMutableRawBufferPointer, _ offset: Int, _ value: UInt32) {
        for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (24 - 8 * index)) }
    }
}
