import IsthmusIP

#if canImport(Glibc)
    import Glibc
#endif

/// ESP without UDP encapsulation: a raw IPv4 socket for IP protocol 50 (RFC 4303). The kernel builds the
/// outer IPv4 header on send; received packets come with their IPv4 header.
enum RawESPSocket {
    static let protocolESP: CInt = 50

    /// A non-blocking raw socket for protocol 50, or -1 (no CAP_NET_RAW, for instance).
    static func open() -> CInt {
        let fd = socket(
            AF_INET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
            protocolESP)
        return fd
    }

    /// Sends `packet` (ESP header first) to `address`; IPv4 only. `false` when it could not be sent.
    static func send(_ packet: UnsafeRawBufferPointer, on fd: CInt, to address: IPAddress) -> Bool {
        guard fd >= 0, address.family == .v4 else { return false }
        var destination = sockaddr_in()
        destination.sin_family = sa_family_t(AF_INET)
        destination.sin_addr.s_addr = UInt32(truncatingIfNeeded: address.value).bigEndian
        let sent = withUnsafePointer(to: &destination) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, packet.baseAddress, packet.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return sent == packet.count
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
}
