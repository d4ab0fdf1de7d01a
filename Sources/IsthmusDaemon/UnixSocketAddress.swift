#if canImport(Glibc)
    import Glibc
#endif

/// The address of a Unix stream socket at a path (the control socket), for the server's `bind` and the
/// client's `connect`.
struct UnixSocketAddress {
    private var address = sockaddr_un()

    /// `path`'s address; nil when `path` is empty or longer than ``ControlSocketPath/maximumLength`` bytes.
    init?(_ path: String) {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count <= ControlSocketPath.maximumLength else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
    }

    /// A new Unix stream socket (close-on-exec); -1, with `errno` set, when none can be made.
    static func makeSocket() -> CInt {
        socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
    }

    /// Calls `body` (`bind` or `connect`) with the address and its length.
    func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        withUnsafePointer(to: address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
