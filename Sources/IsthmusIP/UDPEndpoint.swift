/// A UDP endpoint: address and port. IKE messages travel between two of these, and so does ESP in
/// UDP (RFC 3948); for plain ESP (IP protocol 50) only the address counts.
public struct UDPEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// `198.51.100.1:500`, `[2001:db8::1]:4500`.
    public var description: String {
        address.family == .v6 ? "[\(address)]:\(port)" : "\(address):\(port)"
    }
}
