/// An address given to an interface together with the length of the prefix it sits in, as `ip address`
/// writes it: `169.254.21.1/30` (the address is `169.254.21.1`, the network `169.254.21.0/30`). Unlike an
/// ``IPPrefix``, its host bits are the point.
public struct InterfaceAddress: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    /// 0...32 for IPv4, 0...128 for IPv6.
    public let length: Int

    public init(address: IPAddress, length: Int) {
        precondition(length >= 0 && length <= address.family.bitWidth, "prefix length out of range")
        self.address = address
        self.length = length
    }

    /// Parses `ADDRESS/LENGTH`; the length is required.
    public init(parsing text: some StringProtocol) throws(IPParseError) {
        let text = String(text)
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw IPParseError(input: text, reason: "an interface address has the form ADDRESS/LENGTH")
        }
        let address = try IPAddress(parsing: parts[0])
        guard let length = Int(parts[1]), parts[1].count <= 3, parts[1].allSatisfy(\.isNumber),
            length >= 0, length <= address.family.bitWidth
        else {
            throw IPParseError(
                input: text, reason: "prefix length '\(parts[1])' must be 0 to \(address.family.bitWidth)")
        }
        self.init(address: address, length: length)
    }

    public var family: IPFamily { address.family }

    /// The network the address sits in.
    public var prefix: IPPrefix { IPPrefix(masking: address, length: length) }

    /// The one other address a point-to-point prefix leaves: the other half of a /31 (/127), or the other
    /// host of a /30 (/126), whose first and last addresses are the network and broadcast. Nil for other
    /// lengths, or when this address is not a host of its /30.
    public var onlyPeer: IPAddress? {
        let width = family.bitWidth
        let network = prefix.network.value
        switch length {
        case width - 1:
            return IPAddress(family: family, value: address.value ^ 1)
        case width - 2:
            switch address.value - network {
            case 1: return IPAddress(family: family, value: network + 2)
            case 2: return IPAddress(family: family, value: network + 1)
            default: return nil
            }
        default:
            return nil
        }
    }

    /// Whether `address` is the network or broadcast address of this IPv4 prefix (up to /30), which no
    /// interface may carry.
    public func isReserved(_ candidate: IPAddress) -> Bool {
        guard family == .v4, length <= 30 else { return false }
        return candidate == prefix.network || candidate == prefix.lastAddress
    }

    public var description: String { "\(address)/\(length)" }
}
