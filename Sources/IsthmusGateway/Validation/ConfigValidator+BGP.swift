import IsthmusIP

/// BGP across the configuration: a speaker for every BGP connection, route-based IKEv2 connections only,
/// eBGP over the tunnels, peering prefixes that stay clear of each other and of every routed prefix.
extension ConfigValidator {
    mutating func checkBGP(
        gateway: GatewaySettings?, site: Site?, localNetworks: [LocalNetwork], connections: [Located<Connection>]
    ) {
        let sessions = connections.compactMap { located in located.value.bgp.map { (located, $0) } }
        if gateway?.bgp != nil, sessions.isEmpty {
            warning(
                at("gateway", "bgp"), "gateway.bgp is set but no connection has bgp:, so no BGP session runs",
                fix: "add bgp: {peer_asn: ..., address: 169.254.21.1/30} to a route-based connection")
        }
        // The whole virtual network (its gateway subnet too), the sites beyond the tunnels, the clients' pool.
        var routed: [IPPrefix]
        switch site {
        case .virtualNetwork(let network)?: routed = network.addressSpaces
        case .prefixes(let prefixes)?: routed = prefixes
        case nil: routed = []
        }
        routed += localNetworks.flatMap(\.prefixes)
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
            if let network = localNetworks.first(where: { $0.name == connection.localNetwork }) {
                checkAcceptList(bgp.accept ?? network.prefixes, own: site?.prefixes ?? [], path: path)
            }
        }
        if let speaker = gateway?.bgp, speaker.routerID == nil, !sessions.isEmpty,
            gateway?.publicAddress?.family != .v4
        {
            warning(
                at("gateway", "bgp"),
                "gateway.bgp has no router_id and the public address is not IPv4: the first inner address is used",
                fix: "set router_id: to an IPv4 address unique among the BGP speakers")
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
