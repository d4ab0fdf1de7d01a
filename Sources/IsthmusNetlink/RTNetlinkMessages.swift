import IsthmusIP

/// A network interface as `RTM_NEWLINK` describes it (`struct ifinfomsg` and its attributes).
public struct NetworkInterface: Sendable, Hashable {
    public var index: Int32
    public var name: String
    /// IFF_* flags (IFF_UP = 1).
    public var flags: UInt32
    public var mtu: Int?
    /// The link kind (IFLA_INFO_KIND: `tun`, `veth`, ...), when the kernel names one.
    public var kind: String?

    public init(index: Int32, name: String, flags: UInt32, mtu: Int?, kind: String?) {
        self.index = index
        self.name = name
        self.flags = flags
        self.mtu = mtu
        self.kind = kind
    }

    public var isUp: Bool { flags & Netlink.interfaceUp != 0 }

    /// `struct ifinfomsg`: family, pad, type, index, flags, change.
    static let fixedLength = 16

    /// Reads an `RTM_NEWLINK` payload.
    init(payload: [UInt8]) throws(NetlinkError) {
        guard payload.count >= Self.fixedLength else { throw NetlinkError("short link message") }
        let reader = NetlinkReader(payload)
        index = Int32(bitPattern: reader.u32(4))
        flags = reader.u32(8)
        name = ""
        mtu = nil
        kind = nil
        for attribute in try NetlinkAttribute.decodeAll(payload[Self.fixedLength...]) {
            switch attribute.type {
            case Netlink.linkName: name = attribute.string
            case Netlink.linkMTU: mtu = attribute.uint32.map { Int($0) }
            case Netlink.linkInfo:
                let nested = try NetlinkAttribute.decodeAll(attribute.value[...])
                kind = nested.first(where: { $0.type == Netlink.linkInfoKind })?.string
            default: break
            }
        }
    }

    /// The `struct ifinfomsg` of a request about interface `index` that sets the flags in `change` to
    /// `flags`, followed by `attributes`.
    static func requestPayload(
        index: Int32, flags: UInt32 = 0, change: UInt32 = 0, attributes: [NetlinkAttribute] = []
    ) -> [UInt8] {
        var bytes = NetlinkBytes()
        bytes.append(UInt8(0))  // AF_UNSPEC
        bytes.append(UInt8(0))
        bytes.append(UInt16(0))
        bytes.append(index)
        bytes.append(flags)
        bytes.append(change)
        NetlinkAttribute.encode(attributes, into: &bytes)
        return bytes.bytes
    }
}

/// A route as `RTM_NEWROUTE` describes it (`struct rtmsg` and its attributes): enough to install the
/// routes of a tunnel interface and to find them again.
public struct Route: Sendable, Hashable, CustomStringConvertible {
    public var destination: IPPrefix
    /// The output interface's index.
    public var interfaceIndex: Int32?
    public var gateway: IPAddress?
    /// The metric (RTA_PRIORITY); nil: the kernel's default (0).
    public var metric: UInt32?
    public var table: UInt32
    /// Who installed the route (RTPROT_*): ``Route/isthmusProtocol`` for ours.
    public var routingProtocol: UInt8
    public var scope: UInt8
    public var type: UInt8

    public init(
        destination: IPPrefix, interfaceIndex: Int32?, gateway: IPAddress? = nil, metric: UInt32? = nil,
        table: UInt32 = Netlink.mainTable, routingProtocol: UInt8 = Route.isthmusProtocol,
        scope: UInt8 = Netlink.scopeLink, type: UInt8 = Netlink.routeTypeUnicast
    ) {
        self.destination = destination
        self.interfaceIndex = interfaceIndex
        self.gateway = gateway
        self.metric = metric
        self.table = table
        self.routingProtocol = routingProtocol
        self.scope = scope
        self.type = type
    }

    /// The RTPROT_* value that marks the routes Isthmus installs (`ip route` shows `proto 73`, or
    /// `proto isthmus` with the name in /etc/iproute2/rt_protos.d/). Values above RTPROT_STATIC (4) are
    /// not interpreted by the kernel; 73 is not used by any routing daemon iproute2 knows.
    public static let isthmusProtocol: UInt8 = 73

    /// `struct rtmsg`: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    static let fixedLength = 12

    public var description: String {
        var text = "\(destination)"
        if let gateway { text += " via \(gateway)" }
        if let interfaceIndex { text += " dev #\(interfaceIndex)" }
        if let metric { text += " metric \(metric)" }
        return text + " proto \(routingProtocol)"
    }

    static func family(_ family: IPFamily) -> UInt8 {
        family == .v4 ? Netlink.familyIPv4 : Netlink.familyIPv6
    }

    /// The payload of an `RTM_NEWROUTE` or `RTM_DELROUTE` request for this route.
    func requestPayload() -> [UInt8] {
        var bytes = NetlinkBytes()
        bytes.append(Self.family(destination.family))
        bytes.append(UInt8(destination.length))
        bytes.append(UInt8(0))  // src_len
        bytes.append(UInt8(0))  // tos
        bytes.append(UInt8(table < 256 ? table : 252))  // RT_TABLE_COMPAT; RTA_TABLE carries the real one
        bytes.append(routingProtocol)
        bytes.append(scope)
        bytes.append(type)
        bytes.append(UInt32(0))
        var attributes = [
            NetlinkAttribute(type: Netlink.routeDestination, value: destination.network.bytes),
            NetlinkAttribute(type: Netlink.routeTable, uint32: table),
        ]
        if let interfaceIndex {
            attributes.append(
                NetlinkAttribute(type: Netlink.routeOutputInterface, uint32: UInt32(bitPattern: interfaceIndex)))
        }
        if let gateway { attributes.append(NetlinkAttribute(type: Netlink.routeGateway, value: gateway.bytes)) }
        if let metric { attributes.append(NetlinkAttribute(type: Netlink.routePriority, uint32: metric)) }
        NetlinkAttribute.encode(attributes, into: &bytes)
        return bytes.bytes
    }

    /// Reads an `RTM_NEWROUTE` payload; nil for a family other than IPv4 and IPv6 or a destination that
    /// does not parse.
    init?(payload: [UInt8]) throws(NetlinkError) {
        guard payload.count >= Self.fixedLength else { throw NetlinkError("short route message") }
        let reader = NetlinkReader(payload)
        let family: IPFamily
        switch reader.u8(0) {
        case Netlink.familyIPv4: family = .v4
        case Netlink.familyIPv6: family = .v6
        default: return nil
        }
        let length = Int(reader.u8(1))
        guard length <= family.bitWidth else { return nil }
        var destination = IPAddress(family: family, value: 0)
        var table = UInt32(reader.u8(4))
        var interfaceIndex: Int32?
        var gateway: IPAddress?
        var metric: UInt32?
        for attribute in try NetlinkAttribute.decodeAll(payload[Self.fixedLength...]) {
            switch attribute.type {
            case Netlink.routeDestination:
                guard let address = IPAddress(bytes: attribute.value) else { return nil }
                destination = address
            case Netlink.routeTable: table = attribute.uint32 ?? table
            case Netlink.routeOutputInterface: interfaceIndex = attribute.uint32.map { Int32(bitPattern: $0) }
            case Netlink.routeGateway: gateway = IPAddress(bytes: attribute.value)
            case Netlink.routePriority: metric = attribute.uint32
            default: break
            }
        }
        self.init(
            destination: IPPrefix(masking: destination, length: length), interfaceIndex: interfaceIndex,
            gateway: gateway, metric: metric, table: table, routingProtocol: reader.u8(5), scope: reader.u8(6),
            type: reader.u8(7))
    }

    /// The payload of a route dump request for one family.
    static func dumpPayload(_ family: IPFamily) -> [UInt8] {
        var bytes = NetlinkBytes()
        bytes.append(Self.family(family))
        for _ in 0..<11 { bytes.append(UInt8(0)) }
        return bytes.bytes
    }
}

/// `RTM_NEWADDR` / `RTM_DELADDR` requests (`struct ifaddrmsg` and its attributes).
enum AddressMessage {
    /// `struct ifaddrmsg`: family, prefix length, flags, scope, interface index; then `IFA_LOCAL` and
    /// `IFA_ADDRESS`, both the address itself, as `ip address add` sends them.
    static func requestPayload(_ address: InterfaceAddress, interfaceIndex: Int32) -> [UInt8] {
        var bytes = NetlinkBytes()
        bytes.append(Route.family(address.family))
        bytes.append(UInt8(address.length))
        bytes.append(UInt8(0))  // flags
        bytes.append(Netlink.scopeUniverse)
        bytes.append(UInt32(bitPattern: interfaceIndex))
        NetlinkAttribute.encode(
            [
                NetlinkAttribute(type: Netlink.addressLocal, value: address.address.bytes),
                NetlinkAttribute(type: Netlink.addressAddress, value: address.address.bytes),
            ], into: &bytes)
        return bytes.bytes
    }
}
