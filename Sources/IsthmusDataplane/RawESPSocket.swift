// CIsthmusNet first: its header pulls in <sys/socket.h> and <netinet/in.h>, and Swift attributes their
// declarations (SOCK_RAW, IPPROTO_IP) to whichever module imported them first, so every file that uses them
// imports it (without it, builds fail now and then with "cannot find SOCK_RAW in scope").
import CIsthmusNet
import IsthmusIP

#if canImport(Glibc)
    import Glibc
#endif

/// ESP without UDP encapsulation: a raw IPv4 socket for IP protocol 50 (RFC 4303). The kernel builds the
/// outer IPv4 header on send; received packets come with their IPv4 header.
final class RawESPSocket: Sendable {
    static let protocolESP: CInt = 50

    let fd: CInt

    /// A raw socket for protocol 50 (blocking sends, reads with `MSG_DONTWAIT`), or nil (no CAP_NET_RAW,
    /// for instance; `errno` says why). Its buffers are as large as the NAT-T socket's.
    init?() {
        let fd = socket(AF_INET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Self.protocolESP)
        guard fd >= 0 else { return nil }
        self.fd = fd
        Self.enlargeBuffers(fd)
        // Outer packets may be fragmented; DF on inner packets is the data plane's business.
        Self.setOption(fd, CInt(IPPROTO_IP), IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
    }

    deinit { close(fd) }

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
}

extension RawESPSocket: KernelDatagramSocket {
    /// Any IPv4 address: the kernel picks the source; raw sockets have no port.
    var address: IPAddress { IPAddress(v4: 0) }
    var port: UInt16 { 0 }
    var receiveOffload: Bool { false }
}
