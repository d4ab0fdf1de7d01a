import IsthmusIP

/// The gateway's BGP speaker (YAML `gateway.bgp`): its autonomous system and router ID. The sessions
/// themselves belong to route-based connections (``ConnectionBGP``); BIRD runs them (``BirdConfiguration``).
public struct GatewayBGP: Sendable, Hashable, Encodable {
    /// This gateway's autonomous system number (RFC 6793: 4 octets).
    public var asn: UInt32
    /// The BGP identifier (an IPv4 address); nil: the gateway's public address when it is IPv4, else the
    /// first BGP connection's inner address.
    public var routerID: IPAddress?
    /// BGP peers beside the gateway, not behind a tunnel (YAML `neighbors`): the cloud fabric's routers, or the
    /// other gateway of an active-active pair. They learn what the tunnels' peers announce (next hop: this
    /// gateway) and may announce the site's own prefixes to it.
    public var neighbors: [BGPNeighbor] = []

    public init(asn: UInt32, routerID: IPAddress? = nil) {
        self.asn = asn
        self.routerID = routerID
    }

    enum CodingKeys: String, CodingKey {
        case asn
        case routerID = "router_id"
        case neighbors
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(asn, forKey: .asn)
        try container.encodeIfPresent(routerID, forKey: .routerID)
        if !neighbors.isEmpty { try container.encode(neighbors, forKey: .neighbors) }
    }

    /// ASNs no speaker may use: 0 (RFC 7607), AS_TRANS 23456 (RFC 6793), 65535 and 4294967295 (RFC 7300).
    public static let reservedASNs: Set<UInt32> = [0, 23456, 65535, 4_294_967_295]

    /// Why `asn` cannot be an autonomous system number, or nil.
    public static func problem(withASN asn: UInt32) -> String? {
        switch asn {
        case 0: "ASN 0 is reserved (RFC 7607)"
        case 23456: "ASN 23456 is AS_TRANS, which stands in for 4-octet ASNs (RFC 6793)"
        case 65535, 4_294_967_295: "ASN \(asn) is reserved (RFC 7300)"
        default: nil
        }
    }
}

/// A BGP peer on the gateway's own network (`gateway.bgp.neighbors`): same ASN for internal BGP.
public struct BGPNeighbor: Sendable, Hashable, Encodable {
    public var name: String
    public var address: IPAddress
    public var asn: UInt32
    public var holdTime: Duration = ConnectionBGP.defaultHoldTime
    public var bfd = false

    public init(name: String, address: IPAddress, asn: UInt32) {
        self.name = name
        self.address = address
        self.asn = asn
    }

    enum CodingKeys: String, CodingKey {
        case name, address, asn
        case holdTime = "hold_time"
        case bfd
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(address, forKey: .address)
        try container.encode(asn, forKey: .asn)
        try container.encode(holdTime.configText, forKey: .holdTime)
        try container.encode(bfd, forKey: .bfd)
    }
}

/// BGP over one route-based connection (YAML `connections[].bgp`): the peering addresses inside the
/// tunnel, the peer's ASN, timers and which learned prefixes are accepted.
///
/// The gateway announces its own site's prefixes (the virtual network's address spaces, or the site's
/// prefixes) and what it learned over its other BGP connections (transit between branches); it accepts
/// from this peer only prefixes inside ``accept`` (default: the connection's local network's prefixes)
/// and never its own address spaces back.
public struct ConnectionBGP: Sendable, Hashable, Encodable {
    public var peerASN: UInt32
    /// Our address on the connection's interface and the peering prefix's length (`169.254.21.1/30`).
    public var address: InterfaceAddress
    /// The peer's inner address; the other host of a /30 or /31 unless written.
    public var peerAddress: IPAddress
    /// BGP hold time (RFC 4271 4.2); keepalives go every third of it.
    public var holdTime: Duration = Self.defaultHoldTime
    /// Bidirectional Forwarding Detection (RFC 5880/5881) on the session: a dead peer noticed in under a
    /// second (300 ms x 3) instead of a hold time. The peer must run BFD too.
    public var bfd = false
    /// Learned prefixes are accepted when inside one of these (nil: the local network's prefixes).
    public var accept: [IPPrefix]?

    /// What AWS and Azure use for their tunnels' BGP sessions: 30 s hold, 10 s keepalive.
    public static let defaultHoldTime = Duration.seconds(30)
    /// RFC 4271 4.2: 0 (no keepalives) or at least 3 s.
    public static let holdTimeRange = 3...65_535

    public init(peerASN: UInt32, address: InterfaceAddress, peerAddress: IPAddress) {
        self.peerASN = peerASN
        self.address = address
        self.peerAddress = peerAddress
    }

    /// The keepalive interval: a third of the hold time, at least a second.
    public var keepalive: Duration { max(.seconds(1), holdTime / 3) }

    enum CodingKeys: String, CodingKey {
        case peerASN = "peer_asn"
        case address
        case peerAddress = "peer_address"
        case holdTime = "hold_time"
        case bfd
        case accept
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(peerASN, forKey: .peerASN)
        try container.encode(address.description, forKey: .address)
        try container.encode(peerAddress, forKey: .peerAddress)
        try container.encode(holdTime.configText, forKey: .holdTime)
        try container.encode(bfd, forKey: .bfd)
        try container.encodeIfPresent(accept, forKey: .accept)
    }
}

extension GatewayConfig {
    /// The connections that run BGP, in configuration order.
    public var bgpConnections: [(connection: Connection, bgp: ConnectionBGP)] {
        connections.compactMap { connection in connection.bgp.map { (connection, $0) } }
    }

    /// The prefixes `connection`'s BGP peer may announce: its `accept:` list, else its local network's prefixes.
    public func acceptedPrefixes(of connection: Connection) -> [IPPrefix] {
        connection.bgp?.accept ?? localNetwork(named: connection.localNetwork)?.prefixes ?? []
    }

    /// The router ID BIRD uses: `gateway.bgp.router_id`, else the public address when IPv4, else the first BGP
    /// connection's inner IPv4 address.
    public var bgpRouterID: IPAddress? {
        if let id = gateway.bgp?.routerID { return id }
        if let address = gateway.publicAddress, address.family == .v4 { return address }
        return bgpConnections.map(\.bgp.address.address).first { $0.family == .v4 }
    }
}
