/// An IPsec traffic selector: an address range, an IP protocol and a port range (RFC 7296 section
/// 3.13.1; RFC 2407 ID payloads carry the same information for IKEv1).
public struct TrafficSelector: Sendable, Hashable, CustomStringConvertible {
    /// First and last address, inclusive; both of one family.
    public var startAddress: IPAddress
    public var endAddress: IPAddress
    /// IP protocol number; 0 means any.
    public var ipProtocol: UInt8
    /// Port range, inclusive; 0...65535 means any.
    public var startPort: UInt16
    public var endPort: UInt16

    public init(
        startAddress: IPAddress, endAddress: IPAddress, ipProtocol: UInt8 = 0, startPort: UInt16 = 0,
        endPort: UInt16 = .max
    ) {
        precondition(startAddress.family == endAddress.family, "a selector's addresses share one family")
        self.startAddress = startAddress
        self.endAddress = endAddress
        self.ipProtocol = ipProtocol
        self.startPort = startPort
        self.endPort = endPort
    }

    /// All traffic to or from a prefix.
    public init(prefix: IPPrefix) {
        self.init(startAddress: prefix.network, endAddress: prefix.lastAddress)
    }

    public var family: IPFamily { startAddress.family }

    /// The prefix this selector covers exactly, if its range is one.
    public var prefix: IPPrefix? {
        let span = endAddress.value &- startAddress.value
        guard endAddress.value >= startAddress.value, (span &+ 1) & span == 0 else { return nil }
        let hostBits = span == UInt128.max ? 128 : (span &+ 1).trailingZeroBitCount
        let prefix = IPPrefix(masking: startAddress, length: family.bitWidth - hostBits)
        return prefix.network == startAddress ? prefix : nil
    }

    public var description: String {
        var text = prefix?.description ?? "\(startAddress)-\(endAddress)"
        if ipProtocol != 0 { text += " proto \(ipProtocol)" }
        if startPort != 0 || endPort != .max {
            text += startPort == endPort ? " port \(startPort)" : " ports \(startPort)-\(endPort)"
        }
        return text
    }

    /// Whether `address` (with protocol and port, when known) falls inside this selector.
    public func contains(_ address: IPAddress, ipProtocol: UInt8 = 0, port: UInt16? = nil) -> Bool {
        guard address.family == family, startAddress.value <= address.value, address.value <= endAddress.value
        else { return false }
        if self.ipProtocol != 0 && ipProtocol != self.ipProtocol { return false }
        if let port, startPort != 0 || endPort != .max { return startPort <= port && port <= endPort }
        return true
    }

    /// The selector both this and `other` allow, or nil when they share nothing (RFC 7296 2.9 narrowing).
    public func intersection(_ other: TrafficSelector) -> TrafficSelector? {
        guard family == other.family else { return nil }
        let start = max(startAddress.value, other.startAddress.value)
        let end = min(endAddress.value, other.endAddress.value)
        guard start <= end else { return nil }
        let proto: UInt8
        switch (ipProtocol, other.ipProtocol) {
        case (0, let p), (let p, 0): proto = p
        case (let a, let b) where a == b: proto = a
        default: return nil
        }
        let low = max(startPort, other.startPort)
        let high = min(endPort, other.endPort)
        guard low <= high else { return nil }
        return TrafficSelector(
            startAddress: IPAddress(family: family, value: start), endAddress: IPAddress(family: family, value: end),
            ipProtocol: proto, startPort: low, endPort: high)
    }

    /// Whether every packet this selector matches is also matched by `other`.
    public func isSubset(of other: TrafficSelector) -> Bool {
        intersection(other) == self
    }
}
