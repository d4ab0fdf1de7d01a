import CIsthmusNet
import IsthmusIP

#if canImport(Glibc)
    import Glibc
#endif

/// The NAT-T UDP socket (RFC 3948, port 4500), owned by the data plane.
///
/// ESP-in-UDP and IKE share the port, so one socket carries both: the data-plane thread reads it in
/// batches (`recvmmsg`, with UDP GRO when the kernel coalesces), decrypts ESP in place and hands IKE
/// messages (non-ESP marker) to the IKE side; the IKE side sends its few messages with ``send(_:to:)``
/// from its own thread (a `sendto` on the same descriptor). Outbound ESP leaves in batches
/// (`sendmmsg`) from the data-plane thread.
///
/// The socket blocks on send, so a full send buffer slows the data plane down instead of dropping
/// (TCP in the tunnel then backs off); reads never block (`MSG_DONTWAIT`). Outer packets may be
/// fragmented by the kernel (`IP_PMTUDISC_DONT`): the inner packet's DF bit is handled by the data
/// plane, not by the outer header.
public final class NATTSocket: Sendable {
    public let fd: CInt
    /// The address bound (wildcard `0.0.0.0` or `::` for any).
    public let address: IPAddress
    /// The port bound (the system's choice when 0 was asked).
    public let port: UInt16
    /// Whether the kernel coalesces received datagrams for us (UDP GRO, Linux 5.0+).
    public let receiveOffload: Bool

    /// Socket buffers asked for (the kernel may give less to a process without CAP_NET_ADMIN).
    static let bufferBytes: CInt = 4 << 20

    /// Binds `address`:`port` (IPv4 or IPv6; an IPv6 wildcard also receives IPv4).
    public init(address: IPAddress, port: UInt16) throws(DataplaneError) {
        let family = address.family == .v4 ? AF_INET : AF_INET6
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw DataplaneError("cannot open a UDP socket", errno: errno) }
        Self.enlargeBuffers(fd)
        if address.family == .v4 {
            Self.setOption(fd, CInt(IPPROTO_IP), IP_PKTINFO, 1)
            Self.setOption(fd, CInt(IPPROTO_IP), IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
        } else {
            Self.setOption(fd, CInt(IPPROTO_IPV6), IPV6_V6ONLY, address.value == 0 ? 0 : 1)
            Self.setOption(fd, CInt(IPPROTO_IPV6), IPV6_RECVPKTINFO, 1)
            Self.setOption(fd, CInt(IPPROTO_IP), IP_PKTINFO, 1)
            Self.setOption(fd, CInt(IPPROTO_IPV6), IPV6_MTU_DISCOVER, IP_PMTUDISC_DONT)
        }
        receiveOffload = Self.setOption(fd, ISTHMUS_SOL_UDP, ISTHMUS_UDP_GRO, 1)
        var storage = sockaddr_storage()
        guard let length = SocketAddressCoding.write(UDPEndpoint(address: address, port: port), into: &storage) else {
            close(fd)
            throw DataplaneError("cannot bind UDP to \(address)")
        }
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw DataplaneError("cannot bind UDP \(UDPEndpoint(address: address, port: port))", errno: code)
        }
        var local = sockaddr_storage()
        var localLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &localLength) }
        }
        self.fd = fd
        self.address = address
        self.port = SocketAddressCoding.read(&local)?.port ?? port
    }

    deinit { close(fd) }

}

extension NATTSocket: KernelDatagramSocket {}

/// `sockaddr_in` / `sockaddr_in6` to and from ``UDPEndpoint``, without allocating.
enum SocketAddressCoding {
    /// Writes `endpoint` for a socket of `socketFamily` (IPv4 addresses become IPv4-mapped on an IPv6
    /// socket); returns the address length, or nil when an IPv6 address is sent on an IPv4 socket.
    static func write(
        _ endpoint: UDPEndpoint, into storage: inout sockaddr_storage, socketFamily: IPFamily? = nil
    ) -> socklen_t? {
        let family = socketFamily ?? endpoint.address.family
        switch (family, endpoint.address.family) {
        case (.v4, .v4):
            return withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                    pointer.pointee = sockaddr_in()
                    pointer.pointee.sin_family = sa_family_t(AF_INET)
                    pointer.pointee.sin_port = endpoint.port.bigEndian
                    pointer.pointee.sin_addr.s_addr = UInt32(truncatingIfNeeded: endpoint.address.value).bigEndian
                    return socklen_t(MemoryLayout<sockaddr_in>.size)
                }
            }
        case (.v6, _):
            // An IPv4 address on an IPv6 socket: ::ffff:a.b.c.d.
            let value =
                endpoint.address.family == .v4
                ? (UInt128(0xFFFF) << 32) | endpoint.address.value : endpoint.address.value
            return withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                    pointer.pointee = sockaddr_in6()
                    pointer.pointee.sin6_family = sa_family_t(AF_INET6)
                    pointer.pointee.sin6_port = endpoint.port.bigEndian
                    withUnsafeMutableBytes(of: &pointer.pointee.sin6_addr) { bytes in
                        for index in 0..<16 { bytes[index] = UInt8(truncatingIfNeeded: value >> (8 * (15 - index))) }
                    }
                    return socklen_t(MemoryLayout<sockaddr_in6>.size)
                }
            }
        case (.v4, .v6):
            return nil
        }
    }

    /// The endpoint in `storage` (IPv4-mapped IPv6 becomes IPv4); nil for other families.
    static func read(_ storage: UnsafeRawPointer) -> UDPEndpoint? {
        switch CInt(storage.load(as: sockaddr.self).sa_family) {
        case AF_INET:
            let address = storage.load(as: sockaddr_in.self)
            return UDPEndpoint(
                address: IPAddress(v4: UInt32(bigEndian: address.sin_addr.s_addr)),
                port: UInt16(bigEndian: address.sin_port))
        case AF_INET6:
            let address = storage.load(as: sockaddr_in6.self)
            return UDPEndpoint(address: ipv6(address.sin6_addr), port: UInt16(bigEndian: address.sin6_port))
        default:
            return nil
        }
    }

    static func read(_ storage: inout sockaddr_storage) -> UDPEndpoint? {
        withUnsafeBytes(of: &storage) { read($0.baseAddress!) }
    }

    /// An IPv6 address, or the IPv4 address inside an IPv4-mapped one.
    static func ipv6(_ raw: in6_addr) -> IPAddress {
        var value: UInt128 = 0
        withUnsafeBytes(of: raw) { bytes in
            for index in 0..<16 { value = value << 8 | UInt128(bytes[index]) }
        }
        if value >> 32 == 0xFFFF { return IPAddress(v4: UInt32(truncatingIfNeeded: value)) }
        return IPAddress(family: .v6, value: value)
    }
}
