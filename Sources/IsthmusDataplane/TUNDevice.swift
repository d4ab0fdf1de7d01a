#if canImport(Glibc)
    import Glibc
#endif

/// A Linux TUN device (layer 3, no packet-information header): one IP packet per `read` and `write`.
/// Opening creates the device, or attaches to an existing one of that name (`ip tuntap add ... mode tun`).
public enum TUNDevice {
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

    /// Opens (creating if needed) the TUN device `name`; returns a non-blocking, close-on-exec fd.
    public static func open(name: String) throws(DataplaneError) -> CInt {
        guard isValidName(name) else { throw DataplaneError("'\(name)' is not a valid interface name (1 to 15 bytes)") }
        let fd = Glibc.open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw DataplaneError("cannot open /dev/net/tun", errno: errno) }
        var request = ifreq()
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { raw in
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            for (index, byte) in name.utf8.enumerated() { raw[index] = byte }
        }
        request.ifr_ifru.ifru_flags = IFF_TUN | IFF_NO_PI
        guard ioctl(fd, TUNSETIFF, &request) == 0 else {
            let code = errno
            close(fd)
            throw DataplaneError("cannot attach TUN device \(name)", errno: code)
        }
        return fd
    }
}
