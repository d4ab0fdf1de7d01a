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
        var size = NATTSocket.bufferBytes
        let length = socklen_t(MemoryLayout<CInt>.size)
        for (force, plain) in [(SO_RCVBUFFORCE, SO_RCVBUF), (SO_SNDBUFFORCE, SO_SNDBUF)]
        where setsockopt(fd, SOL_SOCKET, force, &size, length) != 0 {
            _ = setsockopt(fd, SOL_SOCKET, plain, &size, length)
        }
        // Outer packets may be fragmented; DF on inner packets is the data plane's business.
        var discovery = IP_PMTUDISC_DONT
        _ = setsockopt(fd, CInt(IPPROTO_IP), IP_MTU_DISCOVER, &discovery, length)
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

extension RawESPSocket: DatagramSocket {
    var pollDescriptor: CInt { fd }
    /// Any IPv4 address: the kernel picks the source; raw sockets have no port.
    var address: IPAddress { IPAddress(v4: 0) }
    var port: UInt16 { 0 }
    var receiveOffload: Bool { false }

    func send(_ batch: DatagramBatch, from start: Int, count: Int) -> Int {
        let result = isthmus_sendmmsg(fd, batch.messages + start, UInt32(count), 0)
        return result >= 0 ? Int(result) : -Int(errno)
    }

    func receive(_ batch: DatagramBatch, count: Int) -> Int {
        Int(isthmus_recvmmsg(fd, batch.messages, UInt32(count), Int32(MSG_DONTWAIT)))
    }

    /// One ESP packet to `destination`'s address, without blocking.
    func send(_ bytes: [UInt8], to destination: UDPEndpoint) -> Bool {
        var storage = sockaddr_storage()
        guard let length = SocketAddressCoding.write(destination, into: &storage, socketFamily: .v4) else {
            return false
        }
        let sent = bytes.withUnsafeBytes { payload in
            withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, payload.baseAddress, payload.count, Int32(MSG_DONTWAIT), $0, length)
                }
            }
        }
        return sent == bytes.count
    }
}
