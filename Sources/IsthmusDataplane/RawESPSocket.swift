// CIsthmusNet first: its header pulls in <sys/socket.h> and <netinet/in.h>, and Swift attributes their
// declarations (SOCK_RAW, IPPROTO_IP) to whichever module imported them first, so every file that uses them
// imports it (without it, builds fail now and then with "cannot find SOCK_RAW in scope").
import CIsthmusNet
import IsthmusIP

#if canImport(Glibc)
    import Glibc
#endif

/// ESP without UDP encapsulation (RFC 4303): a raw IPv4 socket for IP protocol 50, which receives ESP (each
/// packet with its IPv4 header) and sends single packets (the kernel builds their IPv4 header), and for the data
/// plane's batches a send-only `IPPROTO_RAW` socket whose packets start with an IPv4 header the data plane wrote.
///
/// Why two: a raw socket that builds the header copies each packet through `ip_append_data`, checksumming it as
/// it copies (for nothing: ESP has no transport checksum), which took about a sixth of the sending gateway's CPU
/// in the lab. With the header included (`IP_HDRINCL`, implied by `IPPROTO_RAW`) the kernel copies the packet
/// once, fills in the source address, total length, identification and header checksum, and sends it; it never
/// fragments such a packet, so one larger than the outgoing device's MTU is refused (`EMSGSIZE`) and leaves
/// through the protocol-50 socket instead, fragmented by the kernel (``DataplaneLoop``). An `IPPROTO_RAW`
/// socket receives nothing, so inbound ESP is read once. ISTHMUS_RAW_HEADER=0 sends batches without it.
final class RawESPSocket: Sendable {
    static let protocolESP: CInt = 50
    /// The IPv4 header the data plane writes before each ESP packet of a batch.
    static let ipv4HeaderSize = 20

    /// Whether batches are sent with their IPv4 header (ISTHMUS_RAW_HEADER=0 turns it off).
    static let headerIncludedByDefault: Bool = {
        guard let text = getenv("ISTHMUS_RAW_HEADER") else { return true }
        return String(cString: text) != "0"
    }()

    /// The protocol-50 socket: receives, and sends single packets.
    let fd: CInt
    /// The `IPPROTO_RAW` socket batches leave through; -1 when there is none.
    let framedFD: CInt

    /// A raw socket for protocol 50 (blocking sends, reads with `MSG_DONTWAIT`) and, when `headerIncluded`
    /// and the kernel allows it, the `IPPROTO_RAW` one; nil when there is no raw socket at all (no
    /// CAP_NET_RAW, for instance; `errno` says why). Buffers are as large as the NAT-T socket's.
    init?(headerIncluded: Bool = RawESPSocket.headerIncludedByDefault) {
        let type = Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let fd = socket(AF_INET, type, Self.protocolESP)
        guard fd >= 0 else { return nil }
        self.fd = fd
        Self.enlargeBuffers(fd)
        // Outer packets may be fragmented; DF on inner packets is the data plane's business.
        Self.setOption(fd, CInt(IPPROTO_IP), IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
        var framed: CInt = -1
        if headerIncluded {
            framed = socket(AF_INET, type, CInt(IPPROTO_RAW))
            if framed >= 0 { Self.enlargeBuffers(framed) }
        }
        framedFD = framed
    }

    deinit {
        close(fd)
        if framedFD >= 0 { close(framedFD) }
    }

    /// The range of the ESP payload inside an IPv4 packet read from the raw socket; nil when the header
    /// is malformed or the packet is not ESP.
    static func payload(of packet: UnsafeRawBufferPointer) -> Range<Int>? {
        guard packet.count >= 20, packet[0] >> 4 == 4 else { return nil }
        let headerLength = Int(packet[0] & 0x0F) * 4
        let totalLength = Int(packet[2]) << 8 | Int(packet[3])
        guard headerLength >= 20, packet[9] == UInt8(protocolESP), headerLength <= packet.count else { return nil }
        // The kernel may hand the total length in host order or already trimmed; trust the read length
        // when the header disagrees with it.
        let end = (headerLength...packet.count).contains(totalLength) ? totalLength : packet.count
        return headerLength..<end
    }

    /// Writes the IPv4 header of an ESP packet to `destination` at `start` (``ipv4HeaderSize`` bytes): version
    /// 4, no options, TTL 64, protocol 50, fragmentation allowed (as the protocol-50 socket sends); the source,
    /// total length, identification and checksum left zero for the kernel to fill in.
    static func writeIPv4Header(at start: UnsafeMutableRawPointer, to destination: IPAddress) {
        // Bytes 0-7: version and IHL, TOS, total length, identification, flags and offset; 8-11: TTL, protocol,
        // checksum; 12-15 source; 16-19 destination.
        start.storeBytes(of: UInt64(0), as: UInt64.self)
        start.storeBytes(of: 0x45, as: UInt8.self)
        start.storeBytes(of: (UInt32(64) << 24 | UInt32(protocolESP) << 16).bigEndian, toByteOffset: 8, as: UInt32.self)
        start.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
        start.storeBytes(
            of: UInt32(truncatingIfNeeded: destination.value).bigEndian, toByteOffset: 16, as: UInt32.self)
    }
}

extension RawESPSocket: KernelDatagramSocket {
    /// Any IPv4 address: the kernel picks the source; raw sockets have no port.
    var address: IPAddress { IPAddress(v4: 0) }
    var port: UInt16 { 0 }
    var receiveOffload: Bool { false }
    var sendsHeaderIncluded: Bool { framedFD >= 0 }

    func send(_ batch: DatagramBatch, from start: Int, count: Int) -> Int {
        let result = isthmus_sendmmsg(framedFD >= 0 ? framedFD : fd, batch.messages + start, UInt32(count), 0)
        return result >= 0 ? Int(result) : -Int(errno)
    }
}
