import IsthmusEvents
import IsthmusIP

/// `gateway.bgp` and `connections[].bgp`: the BGP speaker and the sessions over route-based connections.
extension ConfigBuilder {
    static let gatewayBGPKeys = ["asn", "router_id", "neighbors"]
    static let neighborKeys = ["name", "address", "asn", "hold_time", "bfd"]
    static let connectionBGPKeys = ["peer_asn", "address", "peer_address", "hold_time", "bfd", "accept"]

    mutating func readGatewayBGP(_ value: LocatedNode) -> GatewayBGP? {
        guard let fields = reader.mapping(value, what: "bgp", keys: Self.gatewayBGPKeys, required: ["asn"]) else {
            return nil
        }
        var settings: GatewayBGP?
        let failed = addsErrors { builder in
            let asn = fields["asn"].flatMap { builder.readASN($0, what: "asn") }
            var routerID: IPAddress?
            if let node = fields["router_id"], let address = builder.reader.address(node, what: "router_id") {
                if address.family == .v4 {
                    routerID = address
                } else {
                    builder.reader.sink.error(
                        node.location, "router_id \(address) is not an IPv4 address",
                        fix: "a BGP identifier is 32 bits written as an IPv4 address, such as 10.0.2.4")
                }
            }
            var neighbors: [BGPNeighbor] = []
            if let node = fields["neighbors"] {
                neighbors = builder.readList(node, what: "neighbors") { $0.readNeighbor($1) }.map(\.value)
            }
            if let asn {
                var made = GatewayBGP(asn: asn, routerID: routerID)
                made.neighbors = neighbors
                settings = made
            }
        }
        return failed ? nil : settings
    }

    /// A BGP peer beside the gateway (`gateway.bgp.neighbors[]`).
    mutating func readNeighbor(_ value: LocatedNode) -> BGPNeighbor? {
        guard
            let fields = reader.mapping(
                value, what: describe(value, as: "neighbor"), keys: Self.neighborKeys,
                required: ["name", "address", "asn"])
        else { return nil }
        var neighbor: BGPNeighbor?
        let failed = addsErrors { builder in
            let name = fields["name"].flatMap { builder.reader.name($0, what: "neighbor name") }
            let address = fields["address"].flatMap { builder.reader.address($0, what: "neighbor address") }
            if let address, address.family != .v4 {
                builder.reader.sink.error(
                    fields["address"]!.location, "neighbor address \(address) is IPv6: BGP runs over IPv4 here",
                    fix: "use the neighbor's IPv4 address on the gateway's network")
            }
            let asn = fields["asn"].flatMap { builder.readASN($0, what: "asn") }
            let holdTime = builder.readHoldTime(fields["hold_time"])
            let bfd = builder.readSwitch(fields["bfd"], what: "bfd")
            if let name, let address, let asn, let holdTime, let bfd {
                var made = BGPNeighbor(name: name, address: address, asn: asn)
                made.holdTime = holdTime
                made.bfd = bfd
                neighbor = made
            }
        }
        if failed { markBroken(fields) }
        return failed ? nil : neighbor
    }

    /// `hold_time`: 3 s to 65535 s (default 30 s); nil after an error.
    mutating func readHoldTime(_ value: LocatedNode?) -> Duration? {
        guard let value else { return ConnectionBGP.defaultHoldTime }
        guard let duration = reader.duration(value, what: "hold_time") else { return nil }
        guard ConnectionBGP.holdTimeRange.contains(Int(duration.components.seconds)) else {
            reader.sink.error(
                value.location, "hold_time \(duration.configText) is out of range",
                fix: "BGP's hold time is 3s to 65535s (RFC 4271 4.2); 30s is what the cloud gateways use")
            return nil
        }
        return duration
    }

    mutating func readConnectionBGP(_ value: LocatedNode) -> ConnectionBGP? {
        guard
            let fields = reader.mapping(
                value, what: "bgp", keys: Self.connectionBGPKeys, required: ["peer_asn", "address"])
        else { return nil }
        var settings: ConnectionBGP?
        let failed = addsErrors { builder in
            let asn = fields["peer_asn"].flatMap { builder.readASN($0, what: "peer_asn") }
            let address = fields["address"].flatMap { builder.readInterfaceAddress($0) }
            var peer: IPAddress?
            if let node = fields["peer_address"] {
                peer = builder.reader.address(node, what: "peer_address")
                if let peer, let address { builder.checkPeerAddress(peer, of: address, at: node) }
            } else if let address {
                peer = address.onlyPeer
                if peer == nil {
                    builder.reader.sink.error(
                        fields["address"]!.location,
                        "the peer's address cannot be told from \(address): only a /30 or /31 has one other address",
                        fix: "add peer_address:, or use a /30 such as 169.254.21.1/30")
                }
            }
            let holdTime = builder.readHoldTime(fields["hold_time"])
            let bfd = builder.readSwitch(fields["bfd"], what: "bfd")
            let accept = fields["accept"].flatMap { builder.reader.prefixes($0, what: "accept") }
            if let asn, let address, let peer, let holdTime, let bfd {
                var made = ConnectionBGP(peerASN: asn, address: address, peerAddress: peer)
                made.holdTime = holdTime
                made.bfd = bfd
                made.accept = accept
                settings = made
            }
        }
        return failed ? nil : settings
    }

    /// An autonomous system number: 1 to 4294967294, not a reserved one.
    mutating func readASN(_ value: LocatedNode, what: String) -> UInt32? {
        guard let number = reader.integer(value, what: what, range: 1...4_294_967_294) else { return nil }
        let asn = UInt32(number)
        if let problem = GatewayBGP.problem(withASN: asn) {
            reader.sink.error(
                value.location, "\(what): \(problem)",
                fix: "use your own public ASN, or a private one: 64512-65534 or 4200000000-4294967294")
            return nil
        }
        return asn
    }

    /// An interface address with its prefix length (`169.254.21.1/30`), not a network or broadcast address.
    mutating func readInterfaceAddress(_ value: LocatedNode) -> InterfaceAddress? {
        guard
            let address = reader.parsed(
                value, what: "address", { try? InterfaceAddress(parsing: $0) },
                problem: { "'\($0)' is not an interface address with a prefix length" },
                fix: { _ in "write our inner address and the peering prefix's length, such as 169.254.21.1/30" })
        else { return nil }
        guard address.family == .v4 else {
            reader.sink.error(
                value.location, "\(address) is IPv6: BGP sessions run between IPv4 inner addresses here",
                fix: "use an IPv4 /30 or /31, such as 169.254.21.1/30")
            return nil
        }
        guard address.isReserved(address.address) else { return address }
        reader.sink.error(
            value.location, "\(address.address) is the network or broadcast address of \(address.prefix)",
            fix: "use one of its hosts")
        return nil
    }

    private mutating func checkPeerAddress(_ peer: IPAddress, of address: InterfaceAddress, at node: LocatedNode) {
        if peer == address.address {
            reader.sink.error(
                node.location, "peer_address \(peer) is our own address",
                fix: "write the other end's inner address, such as \(address.onlyPeer ?? peer)")
        } else if !address.prefix.contains(peer) || address.isReserved(peer) {
            reader.sink.error(
                node.location, "peer_address \(peer) is not a host of the peering prefix \(address.prefix)",
                fix: "the two inner addresses share one /30 or /31; write \(address.onlyPeer ?? peer) or widen address:"
            )
        }
    }
}
