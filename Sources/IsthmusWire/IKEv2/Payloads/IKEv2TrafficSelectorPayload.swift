/// The Traffic Selector payload, TSi or TSr (RFC 7296 section 3.13).
public struct IKEv2TrafficSelectorPayload: PayloadBody {
    public var selectors: [IKEv2TrafficSelector]

    /// Creates a TS payload.
    /// - Precondition: at most 255 selectors (the count is one octet).
    public init(selectors: [IKEv2TrafficSelector]) {
        precondition(selectors.count <= Int(UInt8.max), "too many traffic selectors")
        self.selectors = selectors
    }

    init(parsing body: inout WireReader) throws(WireError) {
        let start = body.offset
        let count = Int(try body.expectUInt8("TS count"))
        _ = try body.expectSlice(3, "TS reserved")
        guard count <= WireLimits.maximumTrafficSelectorCount else {
            throw WireError(.limitExceeded, at: start, "\(count) traffic selectors")
        }
        var selectors: [IKEv2TrafficSelector] = []
        for _ in 0..<count {
            selectors.append(try IKEv2TrafficSelector.parse(from: &body))
        }
        try body.expectAtEnd("the last traffic selector")
        self.selectors = selectors
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeUInt8(UInt8(self.selectors.count))
        writer.writeZeros(3)
        for selector in self.selectors {
            selector.serialize(into: &writer)
        }
    }
}

/// One traffic selector: an address range, an IP protocol and a port range
/// (RFC 7296 section 3.13.1).
public struct IKEv2TrafficSelector: Hashable, Sendable {
    /// The kind of address range.
    public enum AddressFamily: UInt8, Hashable, Sendable {
        /// TS_IPV4_ADDR_RANGE (7): 4-byte addresses, selector length 16.
        case ipv4 = 7
        /// TS_IPV6_ADDR_RANGE (8): 16-byte addresses, selector length 40.
        case ipv6 = 8

        /// The length of one address in bytes.
        public var addressLength: Int { self == .ipv4 ? 4 : 16 }
        /// The selector length field value.
        var selectorLength: Int { 8 + 2 * self.addressLength }
    }

    public var family: AddressFamily
    /// The IP protocol number (RFC 791), 0 for any.
    public var ipProtocol: UInt8
    public var startPort: UInt16
    public var endPort: UInt16
    /// The first address of the range, `family.addressLength` bytes in network order.
    public var startAddress: [UInt8]
    /// The last address of the range.
    public var endAddress: [UInt8]

    /// Creates a selector.
    /// - Precondition: both addresses have `family.addressLength` bytes.
    public init(
        family: AddressFamily,
        ipProtocol: UInt8 = 0,
        startPort: UInt16 = 0,
        endPort: UInt16 = 65535,
        startAddress: [UInt8],
        endAddress: [UInt8]
    ) {
        precondition(startAddress.count == family.addressLength && endAddress.count == family.addressLength)
        self.family = family
        self.ipProtocol = ipProtocol
        self.startPort = startPort
        self.endPort = endPort
        self.startAddress = startAddress
        self.endAddress = endAddress
    }

    static func parse(from reader: inout WireReader) throws(WireError) -> IKEv2TrafficSelector {
        let start = reader.offset
        let typeValue = try reader.expectUInt8("TS type")
        let ipProtocol = try reader.expectUInt8("TS IP protocol")
        let length = Int(try reader.expectUInt16("TS selector length"))
        guard let family = AddressFamily(rawValue: typeValue) else {
            throw WireError(.invalidValue, at: start, "unsupported TS type \(typeValue)")
        }
        guard length == family.selectorLength else {
            throw WireError(.lengthMismatch, at: start + 2, "TS length \(length) for type \(typeValue)")
        }
        let startPort = try reader.expectUInt16("TS start port")
        let endPort = try reader.expectUInt16("TS end port")
        let startAddress = try reader.expectBytes(family.addressLength, "TS start address")
        let endAddress = try reader.expectBytes(family.addressLength, "TS end address")
        return IKEv2TrafficSelector(
            family: family,
            ipProtocol: ipProtocol,
            startPort: startPort,
            endPort: endPort,
            startAddress: startAddress,
            endAddress: endAddress
        )
    }

    func serialize(into writer: inout WireWriter) {
        writer.writeUInt8(self.family.rawValue)
        writer.writeUInt8(self.ipProtocol)
        writer.writeInteger(UInt16(self.family.selectorLength))
        writer.writeInteger(self.startPort)
        writer.writeInteger(self.endPort)
        writer.writeBytes(self.startAddress)
        writer.writeBytes(self.endAddress)
    }
}
