import CIsthmusNet

#if canImport(Glibc)
    import Glibc
#endif

/// A Linux TUN device (layer 3, no packet-information header): one IP packet per `read` and `write`.
/// Opening creates the device, or attaches to an existing one of that name (`ip tuntap add ... mode tun`).
/// An instance owns an open descriptor (the data plane's ``PacketDevice``); the static functions work on
/// interfaces by name.
public final class TUNDevice: Sendable {
    /// The interface name.
    public let name: String
    /// The non-blocking, close-on-exec descriptor.
    let fd: CInt
    /// Whether reads and writes start with a ``VirtioNetHeader`` (segmentation offload on).
    public let vnetHeader: Bool

    /// Opens the TUN device `name` (creating it when it does not exist), with segmentation offload when
    /// `offload` is true and the kernel agrees.
    public init(name: String, offload: Bool) throws(DataplaneError) {
        (fd, vnetHeader) = try Self.open(name: name, offload: offload)
        self.name = name
    }

    deinit { close(fd) }

    /// `_IOW('T', 202, int)` from linux/if_tun.h (function-like macro, not imported).
    static let TUNSETIFF: UInt = 0x4004_54CA
    static let IFF_TUN: Int16 = 0x0001
    static let IFF_NO_PI: Int16 = 0x1000
    /// Interface names are at most 15 bytes (IFNAMSIZ 16 with the NUL).
    public static let maximumNameLength = 15

    /// Whether `name` can be a Linux interface name.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        return !bytes.isEmpty && bytes.count <= maximumNameLength
            && !bytes.contains(where: { $0 == UInt8(ascii: "/") || $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: ":") }
            )
            && name != "." && name != ".."
    }

    /// `SIOCGIFMTU` from linux/sockios.h.
    static let SIOCGIFMTU: UInt = 0x8921

    /// `SIOCGIFTXQLEN` and `SIOCSIFTXQLEN` from linux/sockios.h.
    static let SIOCGIFTXQLEN: UInt = 0x8942
    static let SIOCSIFTXQLEN: UInt = 0x8943
    /// Packets the kernel may queue for the data plane to read. The TUN default (500) overflows while
    /// the data plane works through a batch at line rate, and every overflow is a lost TCP segment;
    /// 5000 packets of 1400 bytes is about 70 ms at 1 Gbit/s.
    public static let minimumTransmitQueue = 5000

    /// Raises the interface's transmit queue (kernel to reader) to at least `minimum` packets.
    /// - Returns: the queue length before and after, or nil when it cannot be read or set.
    public static func raiseTransmitQueue(name: String, to minimum: Int = minimumTransmitQueue) -> (Int, Int)? {
        withInterfaceRequest(name) { fd, request in
            guard ioctl(fd, SIOCGIFTXQLEN, &request) == 0 else { return nil }
            let before = Int(request.ifr_ifru.ifru_ivalue)
            guard before < minimum else { return (before, before) }
            request.ifr_ifru.ifru_ivalue = CInt(minimum)
            guard ioctl(fd, SIOCSIFTXQLEN, &request) == 0 else { return nil }
            return (before, minimum)
        }
    }

    /// The interface's MTU now, or nil when it cannot be read.
    public static func mtu(name: String) -> Int? {
        withInterfaceRequest(name) { fd, request in
            ioctl(fd, SIOCGIFMTU, &request) == 0 ? Int(request.ifr_ifru.ifru_mtu) : nil
        }
    }

    /// An `ifreq` that names `name` (NUL-padded; the caller checked the name).
    static func request(named name: String) -> ifreq {
        var request = ifreq()
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { raw in
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            for (index, byte) in name.utf8.enumerated() { raw[index] = byte }
        }
        return request
    }

    /// Runs `body` with a throwaway socket for interface ioctls and an `ifreq` naming `name`.
    static func withInterfaceRequest<T>(_ name: String, _ body: (CInt, inout ifreq) -> T?) -> T? {
        guard isValidName(name) else { return nil }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var request = request(named: name)
        return body(fd, &request)
    }

    /// `IFF_VNET_HDR`, `TUNSETOFFLOAD`, and the offloads asked for (`TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6`).
    static let IFF_VNET_HDR: Int16 = 0x4000
    static let TUNSETOFFLOAD: UInt = 0x4004_54D0
    static let tcpOffloads: UInt = 0x01 | 0x02 | 0x04

    /// Opens the TUN device `name` with segmentation offload when `offload` is true and the kernel
    /// agrees: reads then start with a ``VirtioNetHeader`` and may be TCP super-packets, writes must
    /// start with one. Falls back to plain packets otherwise.
    /// - Returns: the descriptor and whether virtio-net headers are in use.
    public static func open(name: String, offload: Bool) throws(DataplaneError) -> (fd: CInt, vnetHeader: Bool) {
        guard offload else { return (try open(name: name), false) }
        let fd = try open(name: name, flags: IFF_TUN | IFF_NO_PI | IFF_VNET_HDR)
        guard isthmus_ioctl_value(fd, TUNSETOFFLOAD, tcpOffloads) == 0 else {
            close(fd)
            return (try open(name: name), false)
        }
        return (fd, true)
    }

    /// Opens (creating if needed) the TUN device `name` for plain packets; a non-blocking, close-on-exec fd.
    public static func open(name: String) throws(DataplaneError) -> CInt {
        try open(name: name, flags: IFF_TUN | IFF_NO_PI)
    }

    static func open(name: String, flags: Int16) throws(DataplaneError) -> CInt {
        guard isValidName(name) else { throw DataplaneError("'\(name)' is not a valid interface name (1 to 15 bytes)") }
        let fd = Glibc.open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw DataplaneError("cannot open /dev/net/tun", errno: errno) }
        var request = request(named: name)
        request.ifr_ifru.ifru_flags = flags
        guard ioctl(fd, TUNSETIFF, &request) == 0 else {
            let code = errno
            close(fd)
            throw DataplaneError("cannot attach TUN device \(name)", errno: code)
        }
        return fd
    }
}

extension TUNDevice: PacketDevice {
    var pollDescriptor: CInt { fd }

    func readPacket(into buffer: UnsafeMutableRawPointer, capacity: Int) -> Int {
        read(fd, buffer, capacity)
    }

    func writePacket(_ packet: UnsafeRawBufferPointer) -> Bool {
        write(fd, packet.baseAddress!, packet.count) == packet.count
    }

    func writePacket(_ packet: UnsafeRawBufferPointer, header: UnsafeRawBufferPointer) -> Bool {
        var vectors = (
            iovec(iov_base: UnsafeMutableRawPointer(mutating: header.baseAddress!), iov_len: header.count),
            iovec(iov_base: UnsafeMutableRawPointer(mutating: packet.baseAddress!), iov_len: packet.count)
        )
        let written = withUnsafeMutablePointer(to: &vectors) {
            $0.withMemoryRebound(to: iovec.self, capacity: 2) { writev(fd, $0, 2) }
        }
        return written == header.count + packet.count
    }

    func currentMTU() -> Int? { Self.mtu(name: name) }
}
