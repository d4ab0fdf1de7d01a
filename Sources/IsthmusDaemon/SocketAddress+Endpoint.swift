import IsthmusIKEv2
import IsthmusIP
import NIOCore

extension UDPEndpoint {
    /// The endpoint of an IPv4 or IPv6 socket address (IPv4-mapped IPv6 becomes IPv4); nil for others.
    init?(_ address: SocketAddress, port override: Int? = nil) {
        let bytes: [UInt8]
        switch address {
        case .v4(let v4):
            bytes = withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6):
            let raw = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            let mappedPrefix: [UInt8] = Array(repeating: 0, count: 10) + [0xFF, 0xFF]
            bytes = raw.count == 16 && Array(raw.prefix(12)) == mappedPrefix ? Array(raw.suffix(4)) : raw
        case .unixDomainSocket:
            return nil
        }
        guard let ip = IPAddress(bytes: bytes), let port = override ?? address.port, (0...65535).contains(port)
        else { return nil }
        self.init(address: ip, port: UInt16(port))
    }

    /// The socket address to send to.
    func socketAddress() throws -> SocketAddress {
        try SocketAddress(ipAddress: address.description, port: Int(port))
    }
}
