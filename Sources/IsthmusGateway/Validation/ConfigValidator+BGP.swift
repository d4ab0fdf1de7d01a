import IsthmusIP

/// BGP across the configuration: a speaker for every BGP connection, route-based IKEv2 connections only,
/// eBGP over the tunnels, peering prefixes that stay clear of each other and of every routed prefix.
extension ConfigValidator {
    mutating func checkBGP(
        gateway: GatewaySettings?, site: Site?, localNetworks: [LocalNetwork], connections: [Located<Connection>]
    ) {
        let sessions = connections.compactMap { located in located.value.bgp.map { (located, $0) } }
        if let speaker = gateway?.bgp, sessions.isEmpty, speaker.neighbors.isEmpty {
            warning(
                at("gateway", "bgp"), "gateway.bgp is set but no connection has bgp:, so no BGP session runs",
                fix: "add bgp: {peer_asn: ..., address: 169.254.21.1/30} to a route-based connection")
        }
        // The whole virtual network (its gateway subnet too), the sites beyond the tunnels, the clients' pool.
        var routed = site?.addressSpace ?? []
        // A BGP connection's local network lists what its peer may announce (an accept list), not routes.
        let bgpNetworks = Set(sessions.map(\.0.value.localNetwork))
        routed += localNetworks.filter { !bgpNetworks.contains($0.name) }.flatMap(\.prefixes)
        if let pool = gateway?.pointToSite?.addressPool { routed.append(pool) }
        var peerings: [(prefix: IPPrefix, connection: String)] = []
        for (located, bgp) in sessions {
            let connection = located.value
            let path = located.path
            guard let speaker = gateway?.bgp else {
                error(
                    at(path, "bgp"), "connection '\(connection.name)' runs BGP but the gateway has no ASN",
                    fix: "add bgp: {asn: 65515} under gateway:")
                continue
            }
            if connection.kind == .static {
                error(
                    at(path, "bgp"),
                    "connection '\(connection.name)' is policy-based (static): BGP needs a route-based connection",
                    fix: "make it kind: dynamic with ike_version: 2, or remove bgp:")
            } else if connection.ikeVersion == .v1 {
                error(
                    at(path, "bgp"),
                    "connection '\(connection.name)' runs BGP over IKEv1, whose selectors hold only the sites' "
                        + "prefixes: the peering addresses and learned prefixes could not cross",
                    fix: "use ike_version: 2 (route-based, 0.0.0.0/0 selectors)")
            }
            if bgp.peerASN == speaker.asn {
                error(
                    at(path, "bgp.peer_asn"),
                    "peer_asn \(bgp.peerASN) is this gateway's own ASN: BGP over a tunnel is external BGP here",
                    fix: "give each site its own ASN (private ones: 64512-65534)")
            }
            let peering = bgp.address.prefix
            if let clash = routed.first(where: { $0.overlaps(peering) }) {
                error(
                    at(path, "bgp.address"),
                    "the peering prefix \(peering) overlaps \(clash), which is routed through the gateway",
                    fix: "take the inner addresses from a range of their own, such as 169.254.21.0/30")
            }
            if let other = peerings.first(where: { $0.prefix.overlaps(peering) }) {
                error(
                    at(path, "bgp.address"),
                    "the peering prefix \(peering) overlaps \(other.prefix) of connection '\(other.connection)'",
                    fix: "give each connection its own /30 or /31, such as 169.254.21.4/30")
            }
            peerings.append((peering, connection.name))
            if let gateway {
                // BIRD strings have no escapes, and * and ? are patterns in its interface names.
                let interface = TunnelInterfaceName.of(connection, gateway: gateway)
                if interface.contains(where: { "\"\\*?".contains($0) }) {
                    error(
                        at(path, "interface"),
                        "the interface name '\(interface)' of a BGP connection cannot hold \", \\, * or ?",
                        fix: "give it a plain name with interface:, such as ist-branch1")
                }
            }
            let accept = bgp.accept ?? localNetworks.first { $0.name == connection.localNetwork }?.prefixes ?? []
            if accept.contains(where: { $0.family == .v6 }) {
                warning(
                    at(path, "bgp"),
                    "IPv6 prefixes in what connection '\(connection.name)' accepts are ignored: its BGP session carries "
                        + "IPv4 only", fix: "list IPv4 prefixes; IPv6 over BGP is not supported yet")
            }
            if let network = localNetworks.first(where: { $0.name == connection.localNetwork }) {
                checkAcceptList(bgp.accept ?? network.prefixes, own: site?.prefixes ?? [], path: path)
            }
        }
        if let speaker = gateway?.bgp {
            checkNeighbors(speaker, gateway: gateway, site: site, peerings: peerings.map(\.prefix))
        }
        if let speaker = gateway?.bgp, speaker.routerID == nil, sessions.isEmpty, !speaker.neighbors.isEmpty,
            gateway?.publicAddress?.family != .v4
        {
            error(
                at("gateway", "bgp"),
                "gateway.bgp has neighbors but no router_id, no IPv4 public address and no BGP connection to take "
                    + "one from: BIRD cannot start", fix: "set router_id: to an IPv4 address of this gateway")
        } else if let speaker = gateway?.bgp, speaker.routerID == nil, !sessions.isEmpty,
            gateway?.publicAddress?.family != .v4
        {
            warning(
                at("gateway", "bgp"),
                "gateway.bgp has no router_id and the public address is not IPv4: the first inner address is used",
                fix: "set router_id: to an IPv4 address unique among the BGP speakers")
        }
    }

    /// Neighbors: distinct names, not an inner address or our own, on the site's network.
    private mutating func checkNeighbors(
        _ speaker: GatewayBGP, gateway: GatewaySettings?, site: Site?, peerings: [IPPrefix]
    ) {
        var seen: [String: Int] = [:]
        for (index, neighbor) in speaker.neighbors.enumerated() {
            let path = "gateway.bgp.neighbors[\(index)]"
            if let first = seen[neighbor.name] {
                error(
                    at(path, "name"), "the neighbor name '\(neighbor.name)' is used twice (also neighbor \(first + 1))",
                    fix: "give each neighbor its own name")
            }
            seen[neighbor.name] = index
            if neighbor.address == gateway?.publicAddress {
                error(at(path, "address"), "neighbor \(neighbor.address) is this gateway's own public address")
            }
            if let peering = peerings.first(where: { $0.contains(neighbor.address) }) {
                error(
                    at(path, "address"),
                    "neighbor \(neighbor.address) is inside the peering prefix \(peering) of a tunnel: a tunnel's peer is "
                        + "configured on its connection",
                    fix: "write the neighbor's address on the gateway's own network")
            }
            let spaces = site?.addressSpace ?? []
            if !spaces.contains(where: { $0.contains(neighbor.address) }) {
                warning(
                    at(path, "address"),
                    "neighbor \(neighbor.address) is outside this gateway's network: BGP sessions here are direct, so it "
                        + "must be on a directly connected network",
                    fix: "use the neighbor's address on the gateway subnet")
            }
        }
    }

    /// Prefixes of the accept list that hold our own address spaces never match: those are refused anyway.
    private mutating func checkAcceptList(_ accept: [IPPrefix], own: [IPPrefix], path: String) {
        for prefix in accept {
            guard let mine = own.first(where: { prefix.contains($0) || $0.contains(prefix) }) else { continue }
            warning(
                at(path, "bgp.accept"),
                "the accept list's \(prefix) overlaps this gateway's own \(mine): routes into it are refused "
                    + "whatever the list says", fix: "list only the peer's prefixes")
        }
    }
}
