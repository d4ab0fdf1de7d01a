import IsthmusCrypto
import IsthmusIP

/// The rules that span several values of a configuration: names, overlaps, references, gateway kinds,
/// endpoint rules. Field-level rules (syntax, ranges, key length) live in ``ConfigBuilder``.
struct ConfigValidator {
    var reader: NodeReader
    let brokenNames: Set<String>

    init(reader: NodeReader, brokenNames: Set<String>) {
        self.reader = reader
        self.brokenNames = brokenNames
    }

    func at(_ path: String, _ field: String? = nil) -> SourceLocation {
        let full = field.map { path.isEmpty ? $0 : "\(path).\($0)" } ?? path
        return reader.location(of: full) ?? reader.location(of: path) ?? .start
    }

    mutating func error(_ location: SourceLocation, _ message: String, fix: String? = nil) {
        reader.sink.error(location, message, fix: fix)
    }

    mutating func warning(_ location: SourceLocation, _ message: String, fix: String? = nil) {
        reader.sink.warning(location, message, fix: fix)
    }

    mutating func validate(
        gateway: GatewaySettings?, site: Site?, localNetworks: [Located<LocalNetwork>],
        connections: [Located<Connection>], endpoints: [Located<Endpoint>]
    ) {
        checkUniqueNames(localNetworks.map { ($0.value.name, $0.path) }, what: "local network")
        checkUniqueNames(connections.map { ($0.value.name, $0.path) }, what: "connection")
        checkUniqueNames(endpoints.map { ($0.value.name, $0.path) }, what: "endpoint")
        if let site { checkSite(site) }
        let bgpNetworks = Set(connections.filter { $0.value.bgp != nil }.map(\.value.localNetwork))
        checkRemoteSites(localNetworks, site: site, gateway: gateway, bgpNetworks: bgpNetworks)
        if let gateway { checkGatewayKind(gateway, site: site, connections: connections) }
        checkConnections(connections, localNetworks: localNetworks)
        if let gateway { checkInterfaceNames(connections, gateway: gateway) }
        checkCertificateAuthentication(connections, gateway: gateway)
        checkPeersAtAnyAddress(connections, localNetworks: localNetworks.map(\.value))
        if let site { checkEndpoints(endpoints, site: site, localNetworks: localNetworks.map(\.value)) }
        checkBGP(gateway: gateway, site: site, localNetworks: localNetworks.map(\.value), connections: connections)
    }

    // MARK: - Names

    private mutating func checkUniqueNames(_ names: [(String, String)], what: String) {
        var seen: [String: String] = [:]
        for (name, path) in names {
            if let first = seen[name] {
                error(
                    at(path, "name"),
                    "the \(what) name '\(name)' is used twice (first at line \(at(first, "name").line))",
                    fix: "give each \(what) its own name")
            } else {
                seen[name] = path
            }
        }
    }

    // MARK: - This gateway's site

    private mutating func checkSite(_ site: Site) {
        switch site {
        case .prefixes(let prefixes):
            guard !prefixes.isEmpty else {
                error(
                    at("site", "prefixes"), "the site has no prefixes",
                    fix: "list the office subnets, e.g. 192.168.1.0/24")
                return
            }
            checkDisjoint(prefixes, path: "site.prefixes", what: "site prefix")
        case .virtualNetwork(let network):
            let path = "virtual_network"
            guard !network.addressSpaces.isEmpty else {
                error(
                    at(path, "address_spaces"), "the virtual network has no address spaces",
                    fix: "add one, e.g. 10.0.1.0/24")
                return
            }
            checkDisjoint(network.addressSpaces, path: "\(path).address_spaces", what: "address space")
            var seenNames: [String: Int] = [:]
            for (index, subnet) in network.subnets.enumerated() {
                let subnetPath = "\(path).subnets[\(index)]"
                if let first = seenNames[subnet.name] {
                    error(
                        at(subnetPath, "name"),
                        "the subnet name '\(subnet.name)' is used twice (also subnet "
                            + "\(first + 1))", fix: "give each subnet its own name")
                }
                seenNames[subnet.name] = index
                if !network.addressSpaces.contains(where: { $0.contains(subnet.prefix) }) {
                    error(
                        at(subnetPath, "prefix"),
                        "subnet '\(subnet.name)' (\(subnet.prefix)) lies outside every "
                            + "address space (\(list(network.addressSpaces)))",
                        fix: "pick a prefix inside an address space, or add an address space that holds it")
                }
                for (otherIndex, other) in network.subnets.enumerated().prefix(index)
                where other.prefix.overlaps(subnet.prefix) {
                    error(
                        at(subnetPath, "prefix"),
                        "subnet '\(subnet.name)' (\(subnet.prefix)) overlaps subnet "
                            + "'\(other.name)' (\(other.prefix)) at line \(at("\(path).subnets[\(otherIndex)]", "prefix").line)",
                        fix: "subnets of one virtual network must not share addresses")
                }
            }
            if let gatewaySubnet = network.gatewaySubnet, !network.subnets.contains(where: { $0.name == gatewaySubnet })
            {
                var message = "gateway_subnet '\(gatewaySubnet)' names no subnet of this virtual network"
                if let guess = Suggestion.closest(to: gatewaySubnet, in: network.subnets.map(\.name)) {
                    message += "; did you mean '\(guess)'?"
                }
                error(at(path, "gateway_subnet"), message, fix: "add a subnet of that name (a /27 or larger is usual)")
            }
            for (index, server) in network.dnsServers.enumerated()
            where !network.addressSpaces.contains(where: { $0.contains(server) }) {
                warning(
                    at("\(path).dns_servers[\(index)]"),
                    "DNS server \(server) is outside the virtual network; "
                        + "it must be reachable some other way")
            }
        }
    }

    private mutating func checkDisjoint(_ prefixes: [IPPrefix], path: String, what: String) {
        for (index, prefix) in prefixes.enumerated() {
            if let earlier = prefixes.prefix(index).first(where: { $0.overlaps(prefix) }) {
                error(
                    at("\(path)[\(index)]"), "\(what) \(prefix) overlaps \(earlier) of the same list",
                    fix: "remove one, or merge them into the larger prefix")
            }
        }
    }

    // MARK: - Remote sites

    /// The prefixes of local networks reached over BGP (`bgpNetworks`) are allow-lists of what their peers may
    /// announce, so two of them may overlap (a branch connected to both gateways of an active-active pair).
    private mutating func checkRemoteSites(
        _ networks: [Located<LocalNetwork>], site: Site?, gateway: GatewaySettings?, bgpNetworks: Set<String>
    ) {
        let ours = site?.prefixes ?? []
        for (index, located) in networks.enumerated() {
            let network = located.value
            guard !network.prefixes.isEmpty else {
                error(
                    at(located.path, "prefixes"), "local network '\(network.name)' has no prefixes",
                    fix: "list the remote site's subnets, e.g. 192.168.1.0/24")
                continue
            }
            checkDisjoint(network.prefixes, path: "\(located.path).prefixes", what: "prefix")
            for (prefixIndex, prefix) in network.prefixes.enumerated() {
                if let clash = ours.first(where: { $0.overlaps(prefix) }) {
                    error(
                        at("\(located.path).prefixes[\(prefixIndex)]"),
                        "local network '\(network.name)' prefix \(prefix) overlaps this gateway's own \(clash): "
                            + "the two sides' address spaces must not overlap",
                        fix: "renumber one side; a site-to-site tunnel cannot route a prefix that exists on both ends")
                }
                if let pool = gateway?.pointToSite?.addressPool, pool.overlaps(prefix) {
                    error(
                        at("\(located.path).prefixes[\(prefixIndex)]"),
                        "local network '\(network.name)' prefix \(prefix) overlaps the point-to-site pool \(pool)")
                }
                for other in networks.prefix(index)
                where !(bgpNetworks.contains(network.name) && bgpNetworks.contains(other.value.name)) {
                    if let clash = other.value.prefixes.first(where: { $0.overlaps(prefix) }) {
                        error(
                            at("\(located.path).prefixes[\(prefixIndex)]"),
                            "local network '\(network.name)' prefix \(prefix) overlaps \(clash) of local network "
                                + "'\(other.value.name)'", fix: "each remote prefix must lead to one remote site")
                    }
                }
            }
            if let ownAddress = gateway?.publicAddress, ownAddress == network.gatewayAddress {
                error(
                    at(located.path, "gateway_address"),
                    "local network '\(network.name)' has this gateway's own "
                        + "public address \(ownAddress)", fix: "write the remote gateway's public address")
            }
            if let other = networks.prefix(index).first(where: { $0.value.gateway == network.gateway }) {
                error(
                    at(located.path, "gateway_address"),
                    "local networks '\(other.value.name)' and '\(network.name)' "
                        + "have the same gateway address \(network.gateway)",
                    fix: "list all of that site's prefixes under one local network")
            }
            if let ownAddress = gateway?.publicAddress, let peer = network.gatewayAddress,
                ownAddress.family != peer.family
            {
                error(
                    at(located.path, "gateway_address"),
                    "gateway_address \(peer) is \(peer.family) but this gateway's public_address is \(ownAddress.family)"
                )
            }
        }
        if let pool = gateway?.pointToSite?.addressPool, let clash = ours.first(where: { $0.overlaps(pool) }) {
            error(
                at("gateway.point_to_site", "address_pool"),
                "the point-to-site pool \(pool) overlaps this "
                    + "gateway's own \(clash)",
                fix: "choose a pool outside the site, e.g. 10.0.0.0/24 beside 10.0.1.0/24")
        }
    }

    // MARK: - Gateway kinds

    private mutating func checkGatewayKind(
        _ gateway: GatewaySettings, site: Site?, connections: [Located<Connection>]
    ) {
        if gateway.kind == .static, gateway.pointToSite != nil {
            error(
                at("gateway", "point_to_site"), "a static gateway cannot offer point-to-site",
                fix: "set 'kind: dynamic' (route-based, IKEv2) or remove point_to_site")
        }
        guard case .virtualNetwork(let network)? = site, network.gatewaySubnet == nil else { return }
        if gateway.kind == .dynamic {
            error(
                at("gateway", "kind"), "a dynamic gateway needs a gateway subnet in its virtual network",
                fix: "add a subnet such as '- {name: GatewaySubnet, prefix: 10.0.2.0/24}' and 'gateway_subnet: "
                    + "GatewaySubnet'")
        } else if let dynamic = connections.first(where: { $0.value.kind == .dynamic }) {
            error(
                at(dynamic.path, "kind"),
                "connection '\(dynamic.value.name)' is dynamic, which needs a gateway "
                    + "subnet in the virtual network", fix: "add a gateway subnet, or make the connection static")
        }
    }

    // MARK: - Connections

    private mutating func checkConnections(_ connections: [Located<Connection>], localNetworks: [Located<LocalNetwork>])
    {
        let names = localNetworks.map(\.value.name)
        var remotesInUse: [String: String] = [:]
        for located in connections {
            let connection = located.value
            if !names.contains(connection.localNetwork), !brokenNames.contains(connection.localNetwork) {
                var message =
                    "connection '\(connection.name)' leads to local network '\(connection.localNetwork)', "
                    + "which is not defined"
                if let guess = Suggestion.closest(to: connection.localNetwork, in: names) {
                    message += "; did you mean '\(guess)'?"
                }
                error(
                    at(located.path, "local_network"), message,
                    fix: "define it under local_networks, or use one of: \(names.joined(separator: ", "))")
            }
            if let other = remotesInUse[connection.localNetwork] {
                error(
                    at(located.path, "local_network"),
                    "connections '\(other)' and '\(connection.name)' both lead "
                        + "to local network '\(connection.localNetwork)'", fix: "one connection per remote site")
            }
            remotesInUse[connection.localNetwork] = connection.name
            if connection.kind == .static, connection.ikeVersion == .v2 {
                error(
                    at(located.path, "ike_version"),
                    "connection '\(connection.name)' is static (policy-based), "
                        + "and a static gateway speaks IKEv1 only",
                    fix: "set 'ike_version: 1', or 'kind: dynamic' for a route-based IKEv2 connection")
            }
            if connection.deadPeerDetection.action != .none,
                connection.deadPeerDetection.interval > connection.lifetimes.ike
            {
                warning(
                    at(located.path, "dpd"),
                    "the dpd interval is longer than the IKE lifetime, so no liveness "
                        + "check will ever be sent", fix: "shorten the interval or use 'action: none'")
            }
        }
    }

    /// A peer at any address is recognised by its identity, and only one connection per IKE version can be
    /// the one for unknown addresses: the responder picks the connection (and its pre-shared key) from the
    /// first message, before the peer says who it is (IKEv1 Main Mode encrypts its ID with that key).
    private mutating func checkPeersAtAnyAddress(_ connections: [Located<Connection>], localNetworks: [LocalNetwork]) {
        var seen: [IKEVersion: String] = [:]
        for located in connections {
            let connection = located.value
            guard localNetworks.first(where: { $0.name == connection.localNetwork })?.gateway == .any else { continue }
            if connection.remoteIdentity == nil {
                error(
                    at(located.path, "name"),
                    "connection '\(connection.name)' leads to a gateway at any address, so it needs the identity the "
                        + "peer authenticates as",
                    fix: "set remote_id: (the peer's local_id, e.g. office.example.com)")
            }
            if let first = seen[connection.ikeVersion] {
                error(
                    at(located.path, "local_network"),
                    "connections '\(first)' and '\(connection.name)' both lead to gateways at any address with "
                        + "\(connection.ikeVersion): a responder could not tell which pre-shared key to use",
                    fix: "give all but one of those sites a gateway_address (an address or a DNS name)")
            } else {
                seen[connection.ikeVersion] = connection.name
            }
        }
    }

    /// Two route-based connections, or one and the policy-based connections' shared interface, must not
    /// end up on one interface name: the second could not be created.
    private mutating func checkInterfaceNames(_ connections: [Located<Connection>], gateway: GatewaySettings) {
        var owners: [String: String] = [:]
        for located in connections {
            let connection = located.value
            let name = TunnelInterfaceName.of(connection, gateway: gateway)
            let owner = connection.kind == .dynamic ? "connection '\(connection.name)'" : "the policy-based connections"
            if let first = owners[name], first != owner {
                error(
                    at(located.path, connection.interface != nil ? "interface" : "name"),
                    "\(owner) would use the interface '\(name)', which \(first) already uses",
                    fix: "give it another name with interface: (at most \(TunnelInterfaceName.maximumLength) bytes)")
            } else {
                owners[name] = owner
            }
        }
    }

    // MARK: - Endpoints

    private mutating func checkEndpoints(_ endpoints: [Located<Endpoint>], site: Site, localNetworks: [LocalNetwork]) {
        let remotePrefixes = localNetworks.flatMap(\.prefixes)
        for located in endpoints {
            let endpoint = located.value
            if !site.prefixes.contains(where: { $0.contains(endpoint.address) }) {
                error(
                    at(located.path, "address"),
                    "endpoint '\(endpoint.name)' address \(endpoint.address) is not "
                        + "on this gateway's site (\(list(site.prefixes)))",
                    fix: "endpoints protect machines on this side of the tunnel; use an address inside the site")
            } else if case .virtualNetwork(let network) = site, let gatewayName = network.gatewaySubnet,
                let gatewaySubnet = network.subnets.first(where: { $0.name == gatewayName }),
                gatewaySubnet.prefix.contains(endpoint.address)
            {
                warning(
                    at(located.path, "address"),
                    "endpoint '\(endpoint.name)' is in the gateway subnet "
                        + "\(gatewaySubnet.prefix), which should hold only the gateway")
            }
            // The first endpoint that matches a packet decides: a later one for the same address whose protocol
            // and port an earlier one already takes in is never consulted.
            if let earlier = endpoints.prefix(while: { $0.path != located.path }).first(where: {
                $0.value.address == endpoint.address
                    && ($0.value.transport == .any || $0.value.transport == endpoint.transport)
                    && ($0.value.port == nil || $0.value.port == endpoint.port)
            }) {
                warning(
                    at(located.path, "name"),
                    "endpoint '\(endpoint.name)' is never consulted: endpoint '\(earlier.value.name)' comes first and "
                        + "matches all its traffic (the first matching endpoint decides)",
                    fix: "put the narrower endpoint first, or merge their rules")
            }
            for (index, rule) in endpoint.rules.enumerated() {
                let rulePath = "\(located.path).rules[\(index)]"
                if let remote = rule.remote {
                    if remote.family != endpoint.address.family {
                        error(
                            at(rulePath, "remote"),
                            "rule remote \(remote) is \(remote.family) but the endpoint is "
                                + "\(endpoint.address.family), so it can never match")
                        continue
                    }
                    if !remotePrefixes.contains(where: { $0.overlaps(remote) }) {
                        warning(
                            at(rulePath, "remote"),
                            "rule remote \(remote) lies outside every local network's "
                                + "prefixes, so no tunnel traffic can match it")
                    }
                }
                if let shadow = endpoint.rules.prefix(index).firstIndex(where: { $0.covers(rule) }) {
                    let earlier = endpoint.rules[shadow]
                    warning(
                        at(rulePath),
                        "rule \(index + 1) (\(rule.action) \(rule.remote?.description ?? "any")) "
                            + "can never match: rule \(shadow + 1) (\(earlier.action) "
                            + "\(earlier.remote?.description ?? "any")) already matches all its sources",
                        fix: "first match wins: put the narrower rule first")
                }
            }
        }
    }

    private func list(_ prefixes: [IPPrefix]) -> String {
        prefixes.map(\.description).joined(separator: ", ")
    }
}
