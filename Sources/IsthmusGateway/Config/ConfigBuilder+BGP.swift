import IsthmusEvents
import IsthmusIP

/// `gateway.bgp` and `connections[].bgp`: the BGP speaker and the sessions over route-based connections.
extension ConfigBuilder {
    static let gatewayBGPKeys = ["asn", "router_id"]
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
            if let asn { settings = GatewayBGP(asn: asn, routerID: routerID) }
        }
        return failed ? nil : settings
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
            var holdTime = ConnectionBGP.defaultHoldTime
            if let node = fields["hold_time"], let duration = builder.reader.duration(node, what: "hold_time") {
                let seconds = Int(duration.components.seconds)
                if ConnectionBGP.holdTimeRange.contains(seconds) {
                    holdTime = duration
                } else {
                    builder.reader.sink.error(
                        node.location, "hold_time \(duration.configText) is out of range",
                        fix: "BGP's hold time is 3s to 65535s (RFC 4271 4.2); 30s is what the cloud gateways use")
                }
            }
            var bfd = false
            if let node = fields["bfd"] {
                switch builder.reader.string(node, what: "bfd")?.lowercased() {
                case "true"?, "yes"?, "on"?: bfd = true
                case "false"?, "no"?, "off"?: bfd = false
                case nil: break
                case let other?: builder.reader.sink.error(node.location, "bfd '\(other)' is not true or false")
                }
            }
            let accept = fields["accept"].flatMap { builder.reader.prefixes($0, what: "accept") }
            if let asn, let address, let peer {
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
