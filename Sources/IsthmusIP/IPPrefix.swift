/// An address prefix in CIDR notation, such as `192.168.1.0/24` or `2001:db8::/32`.
///
/// A prefix is always canonical: its host bits are zero. Parsing text whose host bits are set is an
/// error that carries the corrected prefix (`192.168.1.10/24` -> `192.168.1.0/24`), because such a
/// value is nearly always a typo for the network, and silently masking it hides the mistake.
public struct IPPrefix: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The network address (host bits zero).
    public let network: IPAddress
    /// The prefix length in bits: 0...32 for IPv4, 0...128 for IPv6.
    public let length: Int

    /// A prefix from an address, masking away host bits.
    public init(masking address: IPAddress, length: Int) {
        precondition(length >= 0 && length <= address.family.bitWidth, "prefix length out of range")
        self.network = IPAddress(family: address.family, value: address.value & Self.mask(address.family, length))
        self.length = length
    }

    /// Parses `ADDRESS/LENGTH`; a bare address is a host prefix (/32 or /128).
    public init(parsing text: some StringProtocol) throws(IPParseError) {
        let text = String(text)
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else {
            throw IPParseError(input: text, reason: "a prefix has the form ADDRESS/LENGTH")
        }
        let address = try IPAddress(parsing: parts[0])
        var length = address.family.bitWidth
        if parts.count == 2 {
            let lengthText = parts[1]
            guard !lengthText.isEmpty, lengthText.count <= 3, lengthText.allSatisfy({ $0.isASCII && $0.isNumber }),
                let parsed = Int(lengthText), parsed <= address.family.bitWidth
            else {
                throw IPParseError(
                    input: text,
                    reason: "prefix length '\(parts[1])' must be 0 to \(address.family.bitWidth) for \(address.family)"
                )
            }
            length = parsed
        }
        let prefix = IPPrefix(masking: address, length: length)
        guard prefix.network == address else {
            throw IPParseError(
                input: text,
                reason: "host bits are set; the network is \(prefix)",
                correctedPrefix: prefix
            )
        }
        self = prefix
    }

    public var family: IPFamily { network.family }

    /// The netmask as an address (`255.255.255.0` for /24): what older devices' screens ask for.
    public var netmask: IPAddress {
        IPAddress(family: family, value: Self.mask(family, length))
    }

    /// The last address inside the prefix.
    public var lastAddress: IPAddress {
        IPAddress(family: family, value: network.value | ~Self.mask(family, length) & Self.allOnes(family))
    }

    /// Whether `address` lies inside this prefix.
    public func contains(_ address: IPAddress) -> Bool {
        address.family == family && address.value & Self.mask(family, length) == network.value
    }

    /// Whether every address of `other` lies inside this prefix.
    public func contains(_ other: IPPrefix) -> Bool {
        other.family == family && other.length >= length && contains(other.network)
    }

    /// Whether the two prefixes share at least one address (for prefixes: one contains the other).
    public func overlaps(_ other: IPPrefix) -> Bool {
        contains(other) || other.contains(self)
    }

    public var description: String { "\(network)/\(length)" }

    public static func < (lhs: IPPrefix, rhs: IPPrefix) -> Bool {
        lhs.network != rhs.network ? lhs.network < rhs.network : lhs.length < rhs.length
    }

    private static func allOnes(_ family: IPFamily) -> UInt128 {
        family == .v4 ? UInt128(UInt32.max) : UInt128.max
    }

    private static func mask(_ family: IPFamily, _ length: Int) -> UInt128 {
        guard length > 0 else { return 0 }
        let width = family.bitWidth
        return (allOnes(family) >> UInt128(width - length)) << UInt128(width - length)
    }
}
